import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

/**
 * The containers.conf poc hands to a podman service it starts itself (through CONTAINERS_CONF)
 * when the caller has not set one. Each line answers an error podman gives on hosts like CI
 * sandboxes and nested containers, where its defaults do not hold:
 * - `runtime = "runc"`: crun is not installed with Debian's podman everywhere, runc is.
 * - `cgroup_manager = "cgroupfs"`: the systemd manager needs a systemd PID 1 ("cgroups in hybrid mode not supported").
 * - `default_ulimits = []`: podman raises RLIMIT_NOFILE by default, which an unprivileged sandbox
 *   refuses ("setrlimit RLIMIT_NOFILE: Operation not permitted").
 */
export const pocContainersConf = `# Written by poc for the podman service it starts (see poc doctor).
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`

/** Known podman failures and the containers.conf line that cures each (used by poc doctor and start errors). */
export const podmanConfigHints: Array<{pattern: RegExp; cause: string; line: string}> = [
  {
    pattern: /RLIMIT_NOFILE|error setting rlimit|setrlimit/i,
    cause: 'podman raises the open-files limit by default, which this host does not allow',
    line: 'default_ulimits = []   (section [containers])',
  },
  {
    pattern: /cgroups in hybrid mode|systemd.*cgroup|cgroup.*systemd|dbus/i,
    cause: 'podman manages cgroups through systemd by default, and systemd does not run here',
    line: 'cgroup_manager = "cgroupfs"   (section [engine])',
  },
  {
    pattern: /crun.*not found|default OCI runtime|no valid executable found for OCI runtime/i,
    cause: 'podman looks for crun by default',
    line: 'runtime = "runc"   (section [engine]; apt-get install runc)',
  },
]

/** The hints whose pattern matches an error text, for a message a user can act on. */
export function podmanHintsFor(text: string): string[] {
  return podmanConfigHints
    .filter((h) => h.pattern.test(text))
    .map((h) => `${h.cause}: put ${h.line} in a containers.conf and point CONTAINERS_CONF at it`)
}

export async function writePocContainersConf(dir: string): Promise<string> {
  await mkdir(dir, {recursive: true})
  const file = path.join(dir, 'containers.conf')
  await writeFile(file, pocContainersConf)
  return file
}
