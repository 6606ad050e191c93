/** The Rift client SDK. */
export { RiftClient, closeError, type CloseInfo, type RiftClientEvents, type RiftClientOptions } from "./rift-client.js";
export { VisibleEntities, forEachRecord, type Entity, type FrameChanges } from "./entities.js";
export { scanSelf, type ScanResult, type SelfRecord } from "../core/protocol/self-scan.js";
export { fromWebSocket, type ClientTransport, type TransportFactory, type TransportHandlers, type WebSocketLike } from "./transport.js";
