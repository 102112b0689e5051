/**
 * Images as content parts, both ways: OpenAI's `image_url` (a `data:` URL or an http(s)
 * URL) and Anthropic's `image` block (a base64 source or a `url` source). Anthropic takes
 * four media types; any other is refused rather than sent to fail upstream.
 */
import type { AnthropicImageBlock } from './anthropic-types.ts'
import { checkFields, dropped, mapped } from './fields.ts'
import type { OpenaiImagePart } from './openai-types.ts'
import { asObject, asString, key, refuse, type JsonObject } from './read.ts'

/** The media types Anthropic accepts in a base64 image source. */
export const ANTHROPIC_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp'])

const IMAGE_URL_FIELDS = { url: mapped, detail: dropped('a resolution hint; Anthropic picks its own') }

/** An OpenAI `{type: 'image_url', image_url: {url}}` part (at `path`) as an Anthropic image block. */
export function openaiImageToAnthropic(part: JsonObject, path: string): AnthropicImageBlock {
  const imagePath = key(path, 'image_url')
  const image = asObject(part['image_url'], imagePath)
  checkFields(image, IMAGE_URL_FIELDS, imagePath, 'the Anthropic Messages API')
  const urlPath = key(imagePath, 'url')
  const url = asString(image['url'], urlPath)
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } }
  if (!url.startsWith('data:')) refuse(urlPath, `'${urlPath}' must be a data: URL or an http(s) URL`)
  const comma = url.indexOf(',')
  const params = (comma === -1 ? '' : url.slice(5, comma)).split(';')
  const mediaType = (params[0] ?? '').toLowerCase()
  if (comma === -1 || !params.slice(1).includes('base64')) refuse(urlPath, `'${urlPath}' must be a base64 data: URL (data:image/png;base64,…)`)
  if (!ANTHROPIC_IMAGE_TYPES.has(mediaType)) {
    refuse(urlPath, `'${urlPath}' is ${mediaType || 'untyped'}; Anthropic takes ${[...ANTHROPIC_IMAGE_TYPES].join(', ')}`)
  }
  return { type: 'image', source: { type: 'base64', media_type: mediaType, data: url.slice(comma + 1) } }
}

const IMAGE_BLOCK_FIELDS = { type: mapped, source: mapped, cache_control: dropped('a caching hint') }

/** An Anthropic `{type: 'image', source}` block (at `path`) as an OpenAI image part. */
export function anthropicImageToOpenai(block: JsonObject, path: string): OpenaiImagePart {
  checkFields(block, IMAGE_BLOCK_FIELDS, path, 'OpenAI Chat Completions')
  const sourcePath = key(path, 'source')
  const source = asObject(block['source'], sourcePath)
  const type = source['type']
  if (type === 'url') return { type: 'image_url', image_url: { url: asString(source['url'], key(sourcePath, 'url')) } }
  if (type !== 'base64') refuse(key(sourcePath, 'type'), `'${key(sourcePath, 'type')}' must be base64 or url (OpenAI cannot read Anthropic files)`)
  const mediaType = asString(source['media_type'], key(sourcePath, 'media_type'))
  const data = asString(source['data'], key(sourcePath, 'data'))
  return { type: 'image_url', image_url: { url: `data:${mediaType};base64,${data}` } }
}
