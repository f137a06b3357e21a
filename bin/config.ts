// Every option of a command also from the environment (QVACD_*) and from <storage>/config.json.
// Generic over the command's options, so a new flag gets both without code of its own.
import fs from 'node:fs'
import path from 'node:path'
import type { Command, Option } from 'commander'
import { QvacError } from '../shared/errors.ts'

export const CONFIG_FILE = 'config.json'

type Source = 'env' | 'config'

/**
 * Makes `cmd` read its options from the environment and the config file too. Precedence: flag >
 * environment > config file > default. Required options may come from any of the three.
 */
export function configurable(cmd: Command, env: NodeJS.ProcessEnv = process.env): Command {
  const required = cmd.options.filter((opt) => opt.mandatory)
  // Checked after env and file are read (commander would check before, on the flags alone).
  for (const opt of required) opt.mandatory = false
  return cmd.hook('preAction', (_, action) => {
    for (const opt of action.options) {
      const key = opt.attributeName()
      if (!unset(action, key)) continue
      const name = envName(opt)
      if (env[name] !== undefined && env[name] !== '') set(action, opt, env[name], 'env', name)
    }
    const storage = action.getOptionValue('storage')
    const file = typeof storage === 'string' ? readConfig(path.join(storage, CONFIG_FILE)) : { path: CONFIG_FILE }
    const byKey = new Map(action.options.flatMap((opt) => [[opt.attributeName(), opt], [opt.name(), opt]] as const))
    for (const [field, value] of Object.entries(file.values ?? {})) {
      const opt = byKey.get(field)
      if (!opt) throw invalid(`${file.path}: unknown option "${field}"`)
      if (unset(action, opt.attributeName())) set(action, opt, value, 'config', `${file.path}: ${field}`)
    }
    for (const opt of required) {
      if (action.getOptionValue(opt.attributeName()) === undefined) {
        throw invalid(`required option '${opt.flags}' not specified (or ${envName(opt)}, or "${opt.attributeName()}" in ${CONFIG_FILE})`)
      }
    }
  })
}

/** QVACD_ and the flag in upper snake case: --max-tokens is QVACD_MAX_TOKENS. */
export function envName(opt: Option): string {
  return 'QVACD_' + opt.name().replace(/-/g, '_').toUpperCase()
}

function unset(cmd: Command, key: string): boolean {
  const source = cmd.getOptionValueSource(key)
  return source === undefined || source === 'default'
}

function set(cmd: Command, opt: Option, raw: unknown, source: Source, where: string): void {
  cmd.setOptionValueWithSource(opt.attributeName(), parse(opt, raw, where), source)
}

function parse(opt: Option, raw: unknown, where: string): unknown {
  if (opt.isBoolean()) {
    const on = typeof raw === 'boolean' ? raw : /^(1|true|yes|on)$/i.test(String(raw)) ? true : /^(0|false|no|off)$/i.test(String(raw)) ? false : null
    if (on === null) throw invalid(`${where}: expected true or false`)
    return opt.negate ? !on : on
  }
  // An option whose value is optional (--allow-private-sources [cidr,...]): true means the bare flag.
  if (opt.optional && (raw === true || /^true$/i.test(String(raw)))) return true
  if (typeof raw !== 'string' && typeof raw !== 'number') throw invalid(`${where}: expected a string or a number`)
  if (!opt.parseArg) return String(raw)
  try {
    return opt.parseArg(String(raw), undefined)
  } catch (err) {
    throw invalid(`${where}: ${(err as Error).message}`)
  }
}

function readConfig(file: string): { path: string; values?: Record<string, unknown> } {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path: file }
    throw invalid(`${file}: ${(err as Error).message}`)
  }
  let values: unknown
  try {
    values = JSON.parse(text)
  } catch (err) {
    throw invalid(`${file}: not JSON (${(err as Error).message})`)
  }
  if (typeof values !== 'object' || values === null || Array.isArray(values)) throw invalid(`${file}: expected a JSON object`)
  return { path: file, values: values as Record<string, unknown> }
}

function invalid(message: string): QvacError {
  return new QvacError('INVALID_ARGUMENT', message)
}
