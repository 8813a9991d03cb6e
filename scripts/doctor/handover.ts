// PLACEHOLDER (wt-d1, so that main.ts compiles): the handover helper replaces this file with the real
// HANDOVER.md writer. This one writes only the doctor's latest results.
import { writeFile } from "node:fs/promises";
import type { DoctorContext, Finding } from "./types.ts";

export async function writeHandover(ctx: DoctorContext, findings: Finding[], path: string): Promise<void> {
  const rows = findings.map((f) => `| ${f.status} | ${f.check} | ${f.saw.replace(/\|/g, "\\|")} |`);
  await writeFile(
    path,
    [
      `# Handover (${ctx.local ? "local stack" : ctx.envFiles.map((f) => f.path).join(", ")})`,
      "",
      "## Doctor",
      "",
      "| status | check | saw |",
      "| --- | --- | --- |",
      ...rows,
      "",
    ].join("\n"),
  );
}
