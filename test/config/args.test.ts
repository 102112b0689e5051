import { describe, expect, it } from 'vitest'
import { capabilitiesOf, tokenizeArgs } from '../../src/config/index.ts'

describe('tokenizeArgs', () => {
  it('splits on any whitespace, newlines included', () => {
    expect(tokenizeArgs('  -c 512\n\t--parallel   2 ')).toEqual(['-c', '512', '--parallel', '2'])
  })

  it('keeps single-quoted text literal, backslashes included', () => {
    expect(tokenizeArgs(`--chat-template 'a "b" \\n c'`)).toEqual(['--chat-template', 'a "b" \\n c'])
  })

  it('honours backslash escapes inside double quotes', () => {
    expect(tokenizeArgs('--alias "say \\"hi\\" \\\\ \\x"')).toEqual(['--alias', 'say "hi" \\ \\x'])
  })

  it('lets an unquoted backslash escape the next character', () => {
    expect(tokenizeArgs('a\\ b c\\"d')).toEqual(['a b', 'c"d'])
  })

  it('joins lines continued with a backslash', () => {
    expect(tokenizeArgs('-c 512 \\\n  --embedding')).toEqual(['-c', '512', '--embedding'])
  })

  it('joins adjacent quoted and unquoted parts into one word', () => {
    expect(tokenizeArgs(`--x=a'b c'"d"`)).toEqual(['--x=ab cd'])
  })

  it('keeps an empty quoted word', () => {
    expect(tokenizeArgs(`--system-prompt '' -c 1`)).toEqual(['--system-prompt', '', '-c', '1'])
  })

  it('does not expand variables, globs or comments', () => {
    expect(tokenizeArgs('$HOME/m.gguf * # not a comment')).toEqual(['$HOME/m.gguf', '*', '#', 'not', 'a', 'comment'])
  })

  it('rejects an unterminated quote', () => {
    expect(() => tokenizeArgs(`--alias 'oops`)).toThrow(/unterminated ' quote/)
    expect(() => tokenizeArgs('--alias "oops')).toThrow(/unterminated " quote/)
  })
})

describe('capabilitiesOf', () => {
  it('treats a profile without embedding or rerank flags as completion only', () => {
    expect(capabilitiesOf(['-c', '512'])).toEqual({ completion: true, embeddings: false, rerank: false })
  })

  it('detects --embedding and --embeddings', () => {
    expect(capabilitiesOf(['--embedding'])).toEqual({ completion: false, embeddings: true, rerank: false })
    expect(capabilitiesOf(['--embeddings'])).toEqual({ completion: false, embeddings: true, rerank: false })
  })

  it('detects --reranking and --rerank', () => {
    expect(capabilitiesOf(['--reranking'])).toEqual({ completion: false, embeddings: false, rerank: true })
    expect(capabilitiesOf(['--rerank'])).toEqual({ completion: false, embeddings: false, rerank: true })
  })
})
