/** Reading one YAML file into a plain object, with errors that name the file and the line. */
import { readFile } from 'node:fs/promises'
import { parse, YAMLParseError } from 'yaml'
import { configError } from './issues.ts'
import { isPlainObject } from './util.ts'

/** Parses `file`; an empty (or comments-only) file is `{}`. The top level must be a mapping. */
export async function readYamlFile(file: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, expected a file' : `cannot read (${code ?? String(err)})`
    throw configError([`${file}: ${why}`], err)
  }
  let data: unknown
  try {
    // uniqueKeys (the default) makes a repeated key an error instead of silently keeping the last.
    data = parse(text, { prettyErrors: true })
  } catch (err: unknown) {
    const detail = err instanceof YAMLParseError ? err.message : String(err)
    throw configError([`${file}: invalid YAML: ${detail}`], err)
  }
  if (data === null || data === undefined) return {}
  if (!isPlainObject(data)) throw configError([`${file}: expected a mapping of keys at the top level`])
  return data
}
