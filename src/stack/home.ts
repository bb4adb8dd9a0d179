import path from 'node:path'

/** Where one stack keeps its state, logs and data: `$POC_HOME`, default `.poc/` in the working directory. */
export interface PocHome {
  root: string
  stateFile: string
  lockFile: string
  logsDir: string
  dataDir: string
  resultsDir: string
  logFile(component: string): string
  dataDirOf(component: string): string
}

export function resolveHome(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): PocHome {
  const root = path.resolve(cwd, env.POC_HOME && env.POC_HOME.trim() !== '' ? env.POC_HOME : '.poc')
  return homeAt(root)
}

export function homeAt(root: string): PocHome {
  const logsDir = path.join(root, 'logs')
  const dataDir = path.join(root, 'data')
  return {
    root,
    stateFile: path.join(root, 'state.json'),
    lockFile: path.join(root, 'lock'),
    logsDir,
    dataDir,
    resultsDir: path.join(root, 'results'),
    logFile: (component) => path.join(logsDir, `${component}.log`),
    dataDirOf: (component) => path.join(dataDir, component),
  }
}
