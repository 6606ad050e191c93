/**
 * The launcher's error: which component failed, why, and where its log is, so the CLI can
 * print "zk2 failed: …" followed by the tail of that log.
 */
import { RiftError } from "../../core/errors.js";

export class InfraComponentError extends RiftError {
  constructor(
    readonly component: string,
    /** Why, without the component name or catalog text: "patroni pg1 exited with code 1". */
    readonly reason: string,
    readonly logFile?: string,
    options?: { cause?: unknown },
  ) {
    super("INFRA_START_FAILED", `${component}: ${reason}`, options);
    this.name = "InfraComponentError";
  }
}
