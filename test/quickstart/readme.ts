// The README's first command, taken from README.md itself (never a copy of it).

export class ReadmeCommandError extends Error {
  readonly code = "README_COMMAND";
}

/** The first command line of the first ```sh block, exactly as written (comment included). */
export function firstReadmeCommand(readme: string): string {
  const block = /^```sh[^\S\n]*\n([\s\S]*?)^```/m.exec(readme);
  if (!block) throw new ReadmeCommandError("README.md has no ```sh block");
  const line = block[1]!.split("\n").find((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
  if (line === undefined) throw new ReadmeCommandError("README.md's first ```sh block holds no command");
  return line.trim();
}
