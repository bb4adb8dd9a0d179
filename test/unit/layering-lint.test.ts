import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {ESLint} from 'eslint'
import {repoRoot} from '../helpers.js'

/** The lint messages of the rule for `code` as if it were the file `file` of this repository. */
async function restricted(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({cwd: repoRoot})
  const [result] = await eslint.lintText(code, {filePath: `${repoRoot}/${file}`})
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('the layering lint rule (src/contract is the one wire contract)', () => {
  it('refuses a service internal in stack/ and checks/', async () => {
    const stack = await restricted(
      'src/stack/x.ts',
      "import {Bus} from '../services/shared/bus.js'\nexport {Bus}\n",
    )
    assert.equal(stack.length, 1)
    assert.match(stack[0] ?? '', /src\/contract/)
    const checks = await restricted(
      'src/checks/smoke/x.ts',
      "import {signJwt} from '../../services/gateway/jwt.js'\nexport {signJwt}\n",
    )
    assert.equal(checks.length, 1)
  })

  it('lets stack/ and checks/ use the contract and a service’s public faces (its env schema, its metrics)', async () => {
    const code = [
      "import {exchanges} from '../contract/topology.js'",
      "import {gatewayConfig} from '../services/gateway/config.js'",
      "import {serviceMetricFamilies} from '../services/metric-families.js'",
      'export {exchanges, gatewayConfig, serviceMetricFamilies}',
      '',
    ].join('\n')
    assert.deepEqual(await restricted('src/stack/x.ts', code), [])
  })

  it('keeps the contract free of every other layer', async () => {
    const messages = await restricted(
      'src/contract/x.ts',
      "import {PocError} from '../stack/errors.js'\nimport {Bus} from '../services/shared/bus.js'\nexport {PocError, Bus}\n",
    )
    assert.equal(messages.length, 2)
  })
})
