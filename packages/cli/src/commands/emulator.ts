import { Command } from "commander";
import { runEmulatorCli } from "@mfactl/emulator";
import type { CliIo } from "../context.js";

/** `mfactl emulator`: the emulator's own CLI, arguments passed through untouched. */
export function emulatorCommand(io: CliIo, setExit: (code: number) => void): Command {
  return new Command("emulator")
    .summary("run the built-in Microsoft Graph + Entra emulator (try mfactl offline)")
    .description("Run the built-in Microsoft Graph + Entra emulator over HTTPS. See `mfactl emulator --help` and docs/commands/emulator.md.")
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument("[args...]")
    .action(async (args: string[]) => {
      setExit(await runEmulatorCli(args, { stdout: io.stdout as NodeJS.WritableStream, stderr: io.stderr as NodeJS.WritableStream }));
    });
}
