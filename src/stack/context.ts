import {
  type ComponentContext,
  type ComponentName,
  type Placement,
  getComponent,
  loopback,
  resolvePorts,
} from './catalog.js'
import type {PocHome} from './home.js'

/** Where each component of a stack runs; the runtime decides (native: every one is a process). */
export type PlacementOf = (name: ComponentName) => Placement

export const allProcesses: PlacementOf = () => 'process'

/** Inside a container on the stack's network a server listens on every interface, on its catalog port. */
const anyAddress = '0.0.0.0'

export function componentContext(
  name: ComponentName,
  home: PocHome,
  portOffset: number,
  placementOf: PlacementOf = allProcesses,
  inStack: (name: ComponentName) => boolean = () => false,
): ComponentContext {
  const placement = placementOf(name)
  const ports = resolvePorts(getComponent(name), portOffset)
  const defaultPorts = resolvePorts(getComponent(name), 0)
  return {
    name,
    host: loopback,
    ports,
    home,
    dataDir: home.dataDirOf(name),
    logFile: home.logFile(name),
    portOffset,
    portsOf: (other) => resolvePorts(getComponent(other), portOffset),
    placement,
    inStack,
    bind:
      placement === 'network-container' ? {host: anyAddress, ports: defaultPorts} : {host: loopback, ports},
    reach: (other, port) => {
      // Two containers on the stack's network find each other by alias, on the catalog port.
      if (placement === 'network-container' && placementOf(other) === 'network-container') {
        return `${other}:${resolvePorts(getComponent(other), 0)[port]}`
      }
      // Everything else meets on the host's loopback: processes, host-network containers, published ports.
      return `${loopback}:${resolvePorts(getComponent(other), portOffset)[port]}`
    },
  }
}

/** The URLs a user can open, with the credentials of our dev stack left in where the tool needs them. */
export function publicUrls(name: ComponentName, home: PocHome, portOffset: number): Record<string, string> {
  return getComponent(name).urls(componentContext(name, home, portOffset))
}
