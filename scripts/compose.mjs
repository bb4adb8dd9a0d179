#!/usr/bin/env node
// npm run compose — regenerates compose/compose.yaml and the config files it mounts from the
// component catalog (src/stack/compose.ts), and deletes generated files it no longer writes.
// Runs the TypeScript sources through tsx, so the result is what test/unit/compose.test.ts expects.
const {generateComposeFiles, writeComposeFiles, composeDir} = await import('../src/stack/compose.ts')

const {written, removed} = await writeComposeFiles(await generateComposeFiles())
for (const file of written) console.log(`wrote compose/${file}`)
for (const file of removed) console.log(`removed compose/${file}`)
console.log(`Commit ${composeDir} with the catalog change it follows.`)
