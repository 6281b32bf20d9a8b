// deno-lint-ignore-file no-console -- a benchmark reports on the console
/**
 * `deno task bench`: runs every benchmark in scripts/bench/ one after another (they compete for
 * the same two cores, so never in parallel). Each prints its figures as ratios against a
 * reference measured in the same run. Pass names to run a subset: `deno task bench codec wal`.
 */
const ALL = ["codec", "wal", "backup", "cloud"];
const wanted = Deno.args.length > 0 ? Deno.args : ALL;
let failed = 0;
for (const name of wanted) {
  const file = new URL(`./${name}.ts`, import.meta.url).pathname;
  try {
    await Deno.stat(file);
  } catch {
    console.log(`== ${name}: no such benchmark`);
    continue;
  }
  console.log(`== ${name}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", file],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);
