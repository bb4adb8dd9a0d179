import {type ComponentContext, type ComponentName, getComponent, loopback, resolvePorts} from './catalog.js'
import type {PocHome} from './home.js'

export function componentContext(name: ComponentName, home: PocHome, portOffset: number): ComponentContext {
  return {
    name,
    host: loopback,
    ports: resolvePorts(getComponent(name), portOffset),
    home,
    dataDir: home.dataDirOf(name),
    logFile: home.logFile(name),
    portOffset,
    portsOf: (other) => resolvePorts(getComponent(other), portOffset),
  }
}

/** The URLs a user can open, with the credentials of our dev stack left in where the tool needs them. */
export function publicUrls(name: ComponentName, home: PocHome, portOffset: number): Record<string, string> {
  return getComponent(name).urls(componentContext(name, home, portOffset))
}
