/**
 * tfjs on WebGPU in Node: the npm package `webgpu` (Dawn, prebuilt binaries for Linux, macOS and Windows
 * inside the package) gives Node a `navigator.gpu`; `@tensorflow/tfjs-backend-webgpu` runs on it.
 *
 * - `probeWebGpuAdapter` asks Dawn for its adapter in a child process, so that a machine which will not use
 *   it (no binary, no adapter, a software adapter) never loads Dawn, and Dawn's own stderr lines become the
 *   reason shown ("Couldn't load Vulkan: libvulkan.so.1 ...").
 * - `startWebGpu` loads Dawn in this process and registers tfjs's `webgpu` backend on its adapter, with the
 *   adapter's buffer limits (which `assertFitsDevice` checks before a tensor too large would lose the device).
 * A software adapter (Mesa llvmpipe/lavapipe, SwiftShader, WARP: `isFallbackAdapter`, architecture
 * "software") is correct but slow: backend.ts never picks it automatically.
 */
import { execFile } from "node:child_process";
import type * as TF from "@tensorflow/tfjs";
import { BackendError } from "./errors";

/**
 * tfjs, loaded on first use: the lazy CLI imports this module (through engineChoice) for commands that may never
 * load tfjs (`serve`, `classify` on ONNX Runtime, every `--help`).
 */
function tfjs(): typeof TF {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred on purpose (see above)
  return require("@tensorflow/tfjs") as typeof TF;
}

/** What the backend report shows of an adapter. */
export interface GpuAdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (llvmpipe, SwiftShader, ...): correct, not fast. */
  software: boolean;
  /** Largest buffer, and largest buffer one shader may bind, in bytes (WebGPU's limits of this adapter). */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
}

/** The parts of Dawn's objects we use (the library compiles without the DOM's WebGPU types). */
interface GpuAdapter {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
  features: { has(name: string): boolean };
  requestDevice(desc?: object): Promise<GpuDevice>;
}
interface GpuDevice {
  lost?: Promise<{ message?: string }>;
}
interface Gpu {
  requestAdapter(opts?: object): Promise<GpuAdapter | null>;
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|basic render/i;

/** True for adapters that run on the CPU. */
export function isSoftwareAdapter(a: {
  architecture?: string;
  description?: string;
  device?: string;
  vendor?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  return (
    a.isFallbackAdapter === true ||
    a.architecture === "software" ||
    SOFTWARE_NAMES.test(`${a.vendor ?? ""} ${a.device ?? ""} ${a.description ?? ""}`)
  );
}

/** `vendor architecture "description"`, marked when software: `mesa software "llvmpipe: Mesa 25.0.7" (software adapter)`. */
export function describeAdapter(a: GpuAdapterSummary): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(" ") || "unknown vendor";
  const desc = a.description || a.device;
  return `${name}${desc ? ` "${desc}"` : ""}${a.software ? " (software adapter)" : ""}`;
}

/** The summary of a Dawn adapter (plain values: it travels as JSON from the probe). */
function summarize(adapter: GpuAdapter): GpuAdapterSummary {
  const info = adapter.info ?? {};
  const str = (k: string) => {
    const v = info[k];
    return typeof v === "string" ? v : "";
  };
  const s = {
    vendor: str("vendor"),
    architecture: str("architecture"),
    device: str("device"),
    description: str("description"),
    isFallbackAdapter: info.isFallbackAdapter === true || adapter.isFallbackAdapter === true,
  };
  return {
    vendor: s.vendor,
    architecture: s.architecture,
    device: s.device,
    description: s.description,
    software: isSoftwareAdapter(s),
    limits: {
      maxBufferSize: Number(adapter.limits.maxBufferSize),
      maxStorageBufferBindingSize: Number(adapter.limits.maxStorageBufferBindingSize),
    },
  };
}

const ADAPTER_OPTIONS = { powerPreference: "high-performance" };

/** Where the `webgpu` package is, or undefined when it is not installed. */
function webgpuPackage(): string | undefined {
  try {
    return require.resolve("webgpu");
  } catch {
    return undefined;
  }
}

/**
 * Asks Dawn for an adapter in a child process (~0.1 s). Never throws.
 * @returns the adapter, or why there is none (not installed, no Vulkan/Metal/D3D12 adapter, Dawn's message)
 */
export async function probeWebGpuAdapter(): Promise<{ adapter: GpuAdapterSummary } | { reason: string }> {
  const pkg = webgpuPackage();
  if (!pkg) return { reason: "not installed (npm package webgpu)" };
  const script = `
    const { create } = require(${JSON.stringify(pkg)});
    create([]).requestAdapter(${JSON.stringify(ADAPTER_OPTIONS)}).then((a) => {
      const i = a ? a.info || {} : null;
      process.stdout.write(JSON.stringify(a && { info: { vendor: i.vendor, architecture: i.architecture,
        device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter },
        isFallbackAdapter: a.isFallbackAdapter, limits: { maxBufferSize: a.limits.maxBufferSize,
        maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize } }));
    }, (e) => { process.stderr.write(String(e)); process.exit(1); });`;
  return new Promise((resolve) => {
    execFile(process.execPath, ["-e", script], { timeout: 30_000, encoding: "utf8" }, (err, stdout, stderr) => {
      // Dawn's stderr says why (no Vulkan loader, no driver); its "artificially reduced" notes and source lines do not.
      const lines = stderr
        .split("\n")
        .map((l) => l.trim().replace(/^Warning: /, ""))
        .filter((l) => l && !/artificially reduced/.test(l) && !/^at /.test(l));
      const why = lines.length ? [...new Set(lines)].join("; ").slice(0, 300) : undefined;
      if (err && !stdout) return resolve({ reason: why ?? `the adapter probe failed (${err.message.split("\n")[0]})` });
      try {
        const a = JSON.parse(stdout) as GpuAdapter | null;
        resolve(a ? { adapter: summarize(a) } : { reason: `no adapter${why ? ` (${why})` : ""}` });
      } catch {
        resolve({ reason: `the adapter probe printed no adapter${why ? ` (${why})` : ""}` });
      }
    });
  });
}

let started: GpuAdapterSummary | undefined;

/** The adapter tfjs's `webgpu` backend runs on, once `startWebGpu` ran. */
export function webgpuAdapter(): GpuAdapterSummary | undefined {
  return started;
}

/** Makes `navigator.gpu` Dawn's (Node 21+ has a `navigator` of its own; Node 20 none). */
function installNavigatorGpu(gpu: Gpu): void {
  const g = globalThis as unknown as { navigator?: object };
  if (g.navigator) Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true, writable: true });
  else Object.defineProperty(g, "navigator", { value: { gpu }, configurable: true, writable: true });
}

/**
 * Loads Dawn here and registers tfjs's `webgpu` backend on its adapter (does not select it).
 * @returns the adapter
 * @throws Error with the reason when the package or an adapter is missing
 */
export async function startWebGpu(): Promise<GpuAdapterSummary> {
  if (started) return started;
  if (!webgpuPackage()) throw new Error("not installed (npm package webgpu)");
  // An ES module without top-level await: Node 20.19+ loads it with require().
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional native module, loaded on demand
  const dawn = require("webgpu") as { create: (flags: string[]) => Gpu; globals: object };
  const { create, globals } = dawn;
  // The backend package registers its own factory at import when navigator.gpu exists: import it first,
  // then register ours (the same device request, on the adapter we describe).
  const { WebGPUBackend } = (await import("@tensorflow/tfjs-backend-webgpu")) as unknown as {
    WebGPUBackend: new (device: GpuDevice, info?: unknown) => TF.KernelBackend;
  };
  Object.assign(globalThis, globals); // GPUBufferUsage, GPUMapMode, ... that tfjs reads as globals
  const gpu = create([]);
  installNavigatorGpu(gpu);
  const adapter = await gpu.requestAdapter(ADAPTER_OPTIONS);
  if (!adapter) throw new Error("no WebGPU adapter (on Linux: a Vulkan driver, e.g. mesa-vulkan-drivers)");
  const summary = summarize(adapter);
  const tf = tfjs();
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend(
    "webgpu",
    async () => {
      const l = adapter.limits;
      const requiredFeatures = ["timestamp-query", "bgra8unorm-storage"].filter((f) => adapter.features.has(f));
      // As tfjs's own factory: the adapter's limits, not WebGPU's defaults (128 MiB bindings would not hold GPT-2).
      const device = await adapter.requestDevice({
        requiredFeatures,
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      void device.lost?.then((info) => {
        if (info?.message && !/destroy/i.test(info.message)) console.error(`WebGPU device lost: ${info.message}`);
      });
      return new WebGPUBackend(device, adapter.info);
    },
    0, // never tfjs's automatic pick; backend.ts selects it
  );
  started = summary;
  return summary;
}

/**
 * Turns tfjs-webgpu's synchronous reads into one clear error: in Node they need a browser's OffscreenCanvas.
 * Values still on the CPU (never uploaded) read as before.
 */
export function guardSyncReads(backend: TF.KernelBackend): void {
  const b = backend as unknown as {
    readSync(dataId: object): unknown;
    syncReadsGuarded?: boolean;
    hasReadSyncWarned?: boolean;
  };
  if (b.syncReadsGuarded) return;
  b.hasReadSyncWarned = true; // its "poor performance" warning would precede our error
  const readSync = b.readSync.bind(backend);
  b.readSync = (dataId: object) => {
    try {
      return readSync(dataId);
    } catch (err) {
      if (!/OffscreenCanvas/.test(String(err))) throw err;
      throw new BackendError(
        "The WebGPU backend in Node cannot read tensors synchronously (dataSync/arraySync): use `await t.data()` / " +
          "`await t.array()`, or another backend (TFJS_BACKEND=wasm).",
      );
    }
  };
  b.syncReadsGuarded = true;
}

/**
 * Checks that a float32/int32 tensor of this shape fits the WebGPU adapter's buffer limits (no-op on other
 * backends): a larger one would fail inside a shader and lose the device.
 * @throws BackendError naming the tensor, its size and the limit
 */
export function assertFitsDevice(name: string, shape: readonly number[], bytesPerElement = 4): void {
  if (!started || tfjs().getBackend() !== "webgpu") return;
  const bytes = shape.reduce((a, d) => a * d, 1) * bytesPerElement;
  const { maxBufferSize, maxStorageBufferBindingSize } = started.limits;
  const limit = Math.min(maxBufferSize, maxStorageBufferBindingSize);
  if (bytes <= limit) return;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  throw new BackendError(
    `${name} [${shape.join(", ")}] needs ${mib(bytes)} in one WebGPU buffer; this adapter (${describeAdapter(started)}) ` +
      `binds at most ${mib(limit)} (maxStorageBufferBindingSize ${mib(maxStorageBufferBindingSize)}, maxBufferSize ` +
      `${mib(maxBufferSize)}). Use a smaller model, or another backend (TFJS_BACKEND=wasm or tensorflow).`,
  );
}

/**
 * False on tfjs's WebGPU backend in Node, which cannot read a tensor synchronously (`dataSync`); code that
 * has an asynchronous or on-device way round checks this. True on every other backend.
 */
export function syncReadsAvailable(): boolean {
  // Not started: no WebGPU backend exists, and tfjs need not be loaded to say so.
  if (!started) return true;
  return (
    tfjs().getBackend() !== "webgpu" ||
    typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== "undefined"
  );
}

/**
 * Reads tensors' values to the host so that `dataSync()` works on them afterwards (tfjs-webgpu keeps what it
 * read until the tensor changes): for synchronous writers such as saveClassifier. No-op where sync reads work.
 */
export async function readableOnHost(tensors: Iterable<TF.Tensor>): Promise<void> {
  if (syncReadsAvailable()) return;
  for (const t of tensors) await t.data();
}
