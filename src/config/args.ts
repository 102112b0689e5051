/**
 * llama-server argument handling: a shell-like tokenizer for `llama_server_args` written as
 * one string, and the flag checks herd needs (which flags it manages, what a profile serves).
 * Flag spellings follow llama.cpp's common/arg.cpp.
 */
import type { Capabilities } from './types.ts'

/** Thrown by tokenizeArgs; the cookbook loader adds the file and profile. */
export class ArgsSyntaxError extends Error {
  override name = 'ArgsSyntaxError'
}

/**
 * Splits like a POSIX shell, without any expansion: whitespace separates words; '…' is
 * literal; "…" allows \" \\ \$ \` escapes; an unquoted backslash keeps the next character
 * (a backslash-newline joins lines). `$HOME`, `*` and `#` stay literal text.
 */
export function tokenizeArgs(text: string): string[] {
  const out: string[] = []
  let cur = ''
  let inWord = false
  let i = 0
  while (i < text.length) {
    const ch = text[i] as string
    if (ch === "'") {
      const end = text.indexOf("'", i + 1)
      if (end === -1) throw new ArgsSyntaxError(`unterminated ' quote at character ${i + 1}`)
      cur += text.slice(i + 1, end)
      inWord = true
      i = end + 1
    } else if (ch === '"') {
      i++
      for (;;) {
        if (i >= text.length) throw new ArgsSyntaxError('unterminated " quote')
        const c = text[i] as string
        if (c === '"') break
        const next = text[i + 1]
        if (c === '\\' && next !== undefined && '"\\$`\n'.includes(next)) {
          if (next !== '\n') cur += next
          i += 2
        } else {
          cur += c
          i++
        }
      }
      inWord = true
      i++
    } else if (ch === '\\') {
      const next = text[i + 1]
      if (next === undefined) throw new ArgsSyntaxError('trailing backslash')
      if (next !== '\n') {
        cur += next
        inWord = true
      }
      i += 2
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur)
      cur = ''
      inWord = false
      i++
    } else {
      cur += ch
      inWord = true
      i++
    }
  }
  if (inWord) out.push(cur)
  return out
}

/** Whether `args` contains any of `flags`, as `--flag` or `--flag=value`. */
export function findFlag(args: readonly string[], flags: readonly string[]): string | undefined {
  for (const arg of args) {
    const name = arg.startsWith('--') ? arg.split('=', 1)[0] : arg
    if (name !== undefined && flags.includes(name)) return name
  }
  return undefined
}

/** The value following `flags` (or after `=`), and `args` without that flag and value. */
export function takeFlag(args: readonly string[], flags: readonly string[]): { value: string | undefined; rest: string[] } {
  const rest = [...args]
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    if (eq !== -1 && flags.includes(arg.slice(0, eq))) {
      rest.splice(i, 1)
      return { value: arg.slice(eq + 1), rest }
    }
    if (flags.includes(arg)) {
      const value = rest[i + 1]
      rest.splice(i, value === undefined ? 1 : 2)
      return { value, rest }
    }
  }
  return { value: undefined, rest }
}

/** Flags herd sets on every llama-server it spawns. */
export const MANAGED_FLAGS = ['--host', '--port'] as const
export const MODEL_FLAGS = ['-m', '--model'] as const
export const HF_REPO_FLAGS = ['-hf', '-hfr', '--hf-repo'] as const
export const HF_FILE_FLAGS = ['-hff', '--hf-file'] as const
/** Other ways llama-server can be told where its model comes from. */
export const OTHER_SOURCE_FLAGS = ['-mu', '--model-url', '-dr', '--docker-repo'] as const

const EMBEDDING_FLAGS = ['--embedding', '--embeddings']
const RERANK_FLAGS = ['--rerank', '--reranking']

/** What a profile serves, from its args: embedding and rerank servers do not complete text. */
export function capabilitiesOf(args: readonly string[]): Capabilities {
  const embeddings = findFlag(args, EMBEDDING_FLAGS) !== undefined
  const rerank = findFlag(args, RERANK_FLAGS) !== undefined
  return { completion: !embeddings && !rerank, embeddings, rerank }
}
