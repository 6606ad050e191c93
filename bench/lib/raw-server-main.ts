/** Process entry of the raw decode server: prints one JSON ready line, runs until SIGTERM. */
import { RawDecodeServer } from "./raw-server.js";

const server = await RawDecodeServer.start();
process.stdout.write(JSON.stringify({ msg: "raw server listening", port: server.port }) + "\n");
const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
