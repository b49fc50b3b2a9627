/**
 * tfjs backend choice. At first use the fastest backend that loads wins:
 * `@tensorflow/tfjs-node-gpu` (with a visible CUDA GPU) → `webgpu` (Dawn, with a hardware adapter: Metal,
 * D3D12 or Vulkan; see webgpuAdapter.ts) → `@tensorflow/tfjs-node` → `@tensorflow/tfjs-backend-wasm` → `cpu`.
 * A software WebGPU adapter (llvmpipe, SwiftShader) is skipped: on the CPU, wasm is faster.
 * `TFJS_BACKEND` (or the CLI's `--backend`) forces one (webgpu then takes a software adapter too); a forced
 * backend that cannot load is an error that names the package to install.
 */
import * as tf from "@tensorflow/tfjs";
import { BackendError } from "./errors";
import { getSettings } from "./config";
import { registerWasmKernels, registerFastMatMulGradient } from "./wasmKernels";
import {
  describeAdapter,
  guardSyncReads,
  probeWebGpuAdapter,
  startWebGpu,
  type GpuAdapterSummary,
} from "./webgpuAdapter";

/** Backends we know, in the order tried. `tensorflow-gpu` and `tensorflow` share tfjs's backend name "tensorflow". */
export const BACKEND_ORDER = ["tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_ORDER)[number];

const ALIASES: Record<string, BackendChoice> = {
  "tensorflow-gpu": "tensorflow-gpu",
  gpu: "tensorflow-gpu",
  "tfjs-node-gpu": "tensorflow-gpu",
  cuda: "tensorflow-gpu",
  webgpu: "webgpu",
  dawn: "webgpu",
  tensorflow: "tensorflow",
  node: "tensorflow",
  "tfjs-node": "tensorflow",
  native: "tensorflow",
  wasm: "wasm",
  cpu: "cpu",
};

const INSTALL_HINT: Record<BackendChoice, string> = {
  "tensorflow-gpu":
    "npm install @tensorflow/tfjs-node-gpu@4.22.0 (needs internet for libtensorflow, CUDA 11.2 and cuDNN 8.1)",
  webgpu:
    "npm install webgpu@0.6.2 and a GPU driver (on Linux Vulkan; without a GPU, Mesa's llvmpipe: mesa-vulkan-drivers from Debian bookworm-backports)",
  tensorflow: "npm install @tensorflow/tfjs-node@4.22.0 (needs internet for libtensorflow)",
  wasm: "npm install @tensorflow/tfjs-backend-wasm@4.22.0",
  cpu: "npm install @tensorflow/tfjs@4.22.0",
};

export interface BackendInfo {
  /** What we chose: one of BACKEND_ORDER. */
  readonly choice: BackendChoice;
  /** tfjs's own name for it (`tf.getBackend()`). */
  readonly tfBackend: string;
  /** True when the backend runs on a GPU (tfjs-node-gpu with CUDA, or a hardware WebGPU adapter). */
  readonly gpu: boolean;
  /** The WebGPU adapter, when the backend is webgpu. */
  readonly adapter?: GpuAdapterSummary;
  /** True when the choice was forced by TFJS_BACKEND / --backend. */
  readonly forced: boolean;
  /** Backends tried before the chosen one and why each was skipped. */
  readonly skipped: ReadonlyArray<{ choice: BackendChoice; reason: string }>;
  readonly tfjsVersion: string;
}

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

/** Parses a backend name as users write it (`wasm`, `cpu`, `node`, `gpu`, …). */
export function parseBackendChoice(name: string): BackendChoice {
  const choice = ALIASES[name.trim().toLowerCase()];
  if (!choice) throw new BackendError(`Unknown tfjs backend "${name}"; use one of: ${BACKEND_ORDER.join(", ")}`);
  return choice;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message.split("\n")[0] : String(err);
}

/** Loads a native tfjs package; throws unless it is a real binding (danfo's override maps tfjs-node to plain tfjs). */
async function loadNative(pkg: "@tensorflow/tfjs-node" | "@tensorflow/tfjs-node-gpu"): Promise<void> {
  await import(pkg);
  if (!tf.engine().registryFactory["tensorflow"])
    throw new Error("not installed (only the plain-tfjs alias that danfojs-node uses)");
}

type TryResult = { ok: true; gpu: boolean; adapter?: GpuAdapterSummary } | { ok: false; reason: string };

async function tryBackend(choice: BackendChoice, forced: boolean): Promise<TryResult> {
  try {
    switch (choice) {
      case "tensorflow-gpu": {
        await loadNative("@tensorflow/tfjs-node-gpu");
        if (!(await tf.setBackend("tensorflow"))) return { ok: false, reason: "setBackend failed" };
        const gpu = Boolean((tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice);
        if (!gpu) return { ok: false, reason: "no visible CUDA GPU" };
        return { ok: true, gpu };
      }
      case "webgpu": {
        if (!forced) {
          // Probe in a child process: a machine that will not use Dawn never loads it.
          const probe = await probeWebGpuAdapter();
          if ("reason" in probe) return { ok: false, reason: probe.reason };
          if (probe.adapter.software)
            return {
              ok: false,
              reason: `${describeAdapter(probe.adapter)} is not chosen automatically (TFJS_BACKEND=webgpu uses it)`,
            };
        }
        const adapter = await startWebGpu();
        if (!(await tf.setBackend("webgpu"))) return { ok: false, reason: "setBackend failed" };
        guardSyncReads(tf.backend());
        return { ok: true, gpu: !adapter.software, adapter };
      }
      case "tensorflow":
        await loadNative("@tensorflow/tfjs-node");
        return (await tf.setBackend("tensorflow"))
          ? { ok: true, gpu: false }
          : { ok: false, reason: "setBackend failed" };
      case "wasm":
        await import("@tensorflow/tfjs-backend-wasm"); // registers the backend; loaded only when it is chosen
        if (!(await tf.setBackend("wasm"))) return { ok: false, reason: "setBackend failed" };
        registerWasmKernels();
        return { ok: true, gpu: false };
      case "cpu": {
        if (!(await tf.setBackend("cpu"))) return { ok: false, reason: "setBackend failed" };
        // tfjs's cpu backend prints a multi-line "install our node backend" banner on first use;
        // describeBackend() already says which backend runs and why.
        (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
        return { ok: true, gpu: false };
      }
    }
  } catch (err) {
    const msg = errorMessage(err);
    return { ok: false, reason: /Cannot find module/.test(msg) ? "not installed" : msg };
  }
}

/**
 * Chooses and initialises the tfjs backend once; later calls return the same info.
 * Call (and await) it before any tensor is created.
 * @param requested backend to force; defaults to `TFJS_BACKEND`, else automatic.
 * @throws BackendError when a forced backend cannot load.
 */
export function initBackend(requested?: string): Promise<BackendInfo> {
  if (current && requested === undefined) return Promise.resolve(current);
  if (pending && requested === undefined) return pending;
  pending = (async () => {
    const name = requested ?? getSettings().backend;
    const forced = name !== undefined && name !== "" && name !== "auto";
    const order: BackendChoice[] = forced ? [parseBackendChoice(name)] : [...BACKEND_ORDER];
    const skipped: Array<{ choice: BackendChoice; reason: string }> = [];
    for (const choice of order) {
      const r = await tryBackend(choice, forced);
      if (r.ok) {
        registerFastMatMulGradient();
        current = {
          choice,
          tfBackend: tf.getBackend(),
          gpu: r.gpu,
          ...(r.adapter && { adapter: r.adapter }),
          forced,
          skipped,
          tfjsVersion: tf.version.tfjs,
        };
        return current;
      }
      if (forced) {
        throw new BackendError(
          `TFJS_BACKEND=${name} cannot be used (${r.reason}). Install it with: ${INSTALL_HINT[choice]}, or unset TFJS_BACKEND.`,
        );
      }
      skipped.push({ choice, reason: r.reason });
    }
    throw new BackendError("No tfjs backend could be initialised (not even cpu); reinstall with `npm ci`.");
  })();
  pending.catch(() => {
    pending = undefined;
  });
  return pending;
}

/** The backend chosen by initBackend, or undefined before it ran. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/**
 * One line for logs and notebooks, e.g. `tfjs 4.22.0 backend: wasm (automatic; skipped tensorflow-gpu: not installed, ...)`
 * or `tfjs 4.22.0 backend: webgpu on mesa software "llvmpipe: Mesa 25.0.7" (software adapter) (forced by TFJS_BACKEND)`.
 */
export function describeBackend(info: BackendInfo): string {
  const how = info.forced ? "forced by TFJS_BACKEND" : "automatic";
  const skipped = info.skipped.length
    ? `; skipped ${info.skipped.map((s) => `${s.choice}: ${s.reason}`).join(", ")}`
    : "";
  const adapter = info.adapter ? ` on ${describeAdapter(info.adapter)}` : "";
  return `tfjs ${info.tfjsVersion} backend: ${info.choice}${adapter}${info.gpu ? " (GPU)" : ""} (${how}${skipped})`;
}
