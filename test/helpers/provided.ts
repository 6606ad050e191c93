/**
 * Types of what test/helpers/global-setup.ts provides to tests (`inject('infra')`).
 * Type-only: safe to import from the globalSetup (main process) and from tests (workers).
 */
import type { InfraState } from "../../src/tools/infra/infra.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The shared infrastructure of this test run (see src/tools/infra/state.ts). */
    infra: InfraState;
  }
}

export type { InfraState };
