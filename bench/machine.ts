/** Machine description for benchmark reports. */
import * as fs from "node:fs";
import * as os from "node:os";

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGB: number;
  cpuFlags: string;
  os: string;
  node: string;
}

/** CPU model, logical cores, memory, SIMD flags (AVX2/AVX-512/AMX) and versions. */
export function describeMachine(): MachineInfo {
  let flags = "";
  try {
    const line =
      fs
        .readFileSync("/proc/cpuinfo", "utf8")
        .split("\n")
        .find((l) => l.startsWith("flags")) ?? "";
    const have = new Set(line.split(":")[1]?.trim().split(/\s+/) ?? []);
    flags = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"].filter((f) => have.has(f)).join(" ");
  } catch {
    /* not Linux */
  }
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    cpuFlags: flags,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
