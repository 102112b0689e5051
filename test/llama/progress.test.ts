import { describe, expect, it } from 'vitest'
import { formatBuildEvent, parseCmakeProgress } from '../../src/llama/index.ts'

describe('parseCmakeProgress', () => {
  it('reads percent and message from a Makefile-generator line', () => {
    expect(parseCmakeProgress('[ 42%] Building CXX object src/CMakeFiles/llama.dir/llama.cpp.o')).toEqual({
      percent: 42,
      message: 'Building CXX object src/CMakeFiles/llama.dir/llama.cpp.o',
    })
    expect(parseCmakeProgress('[100%] Built target llama-server')).toEqual({ percent: 100, message: 'Built target llama-server' })
  })

  it('turns a Ninja step counter into a percent', () => {
    expect(parseCmakeProgress('[50/200] Building CXX object x.o')).toEqual({ percent: 25, message: 'Building CXX object x.o' })
  })

  it('ignores other output', () => {
    expect(parseCmakeProgress('-- Found Git: /usr/bin/git')).toBeNull()
    expect(parseCmakeProgress('In file included from foo.cpp:1:')).toBeNull()
  })
})

describe('formatBuildEvent', () => {
  it('prints build progress like cmake does and other phases with their name', () => {
    expect(formatBuildEvent({ phase: 'build', percent: 7, message: 'Building x' })).toBe('[  7%] Building x')
    expect(formatBuildEvent({ phase: 'install', message: 'installing into /h' })).toBe('install   installing into /h')
  })
})
