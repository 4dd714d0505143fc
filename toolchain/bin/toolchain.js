#!/usr/bin/env node
// The qdm toolchain CLI. Runs the TypeScript sources directly: Node >= 22.18 strips types. npm scripts and npx
// use the Node 22 that the repo installs (node_modules/.bin/node), whatever the system Node is.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `toolchain: needs Node >= 22.18 (this is ${process.version}). Run it as \`npx toolchain ...\` or ` +
      '`npm run toolchain -- ...` from the repo, which use the Node 22 installed in node_modules.\n',
  );
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
