import * as os from "node:os";
import type { CliCommand } from "./command";

/** Shows versions, the chosen backend and the settings in effect. */
export const infoCommand: CliCommand = {
  name: "info",
  summary: "Show versions, the tfjs backend in use and the settings in effect",
  usage: "[--json]",
  help: "Prints Node and tfjs versions, the backend chosen (and why others were skipped; the WebGPU adapter and its buffer limits), the data folder and the URLs used.",
  options: {},
  async run(values, _positionals, ctx) {
    const b = await ctx.backend();
    const { describeBackend } = await import("../backend");
    const s = ctx.settings;
    const info = {
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      cpus: os.cpus().length,
      tfjs: b.tfjsVersion,
      backend: b.choice,
      gpu: b.gpu,
      adapter: b.adapter,
      forced: b.forced,
      skipped: b.skipped,
      dataDir: s.dataDir,
      smsSpamUrls: s.smsSpamUrls,
      imdbUrls: s.imdbUrls,
      gpt2BaseUrls: s.gpt2BaseUrls,
      smoke: s.smoke,
    };
    if (values.json) {
      ctx.out(JSON.stringify(info, null, 2));
      return;
    }
    ctx.log(`Node ${info.node} on ${info.platform}, ${info.cpus} CPUs`);
    ctx.log(describeBackend(b));
    if (b.adapter) {
      const l = b.adapter.limits;
      ctx.log(
        `WebGPU adapter: ${b.adapter.software ? "software (runs on the CPU)" : "hardware"}; largest buffer ` +
          `${(l.maxBufferSize / 2 ** 20).toFixed(0)} MiB, largest binding ${(l.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`,
      );
    }
    ctx.log(`Data folder: ${s.dataDir}`);
    ctx.log(`Dataset URLs: ${s.smsSpamUrls.join(" , ")}`);
    ctx.log(`IMDb archive URLs: ${s.imdbUrls.join(" , ")}`);
    ctx.log(`GPT-2 base URLs: ${s.gpt2BaseUrls.join(" , ")}`);
    ctx.log(`Smoke mode: ${s.smoke ? "on" : "off"}`);
  },
};
