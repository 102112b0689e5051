import { describe, expect, it } from 'vitest'
import { fitParams, fitParamsArgs, parseFitPrint } from '../../src/hardware/index.ts'

describe('fitParamsArgs', () => {
  it('passes on the memory options and drops llama-server-only ones', () => {
    const args = [
      '-m',
      '/m.gguf',
      '-c',
      '4096',
      '-np',
      '2',
      '--jinja',
      '--alias',
      'x',
      '-ctk',
      'q8_0',
      '--ctx-size=8192',
      '-kvu',
      '--embedding',
      '-ngl',
      '99',
      '-ts',
      '1,1',
      '-nkvo',
    ]
    expect(fitParamsArgs(args)).toEqual([
      '-m',
      '/m.gguf',
      '-c',
      '4096',
      '-np',
      '2',
      '-ctk',
      'q8_0',
      '--ctx-size=8192',
      '-ngl',
      '99',
      '-ts',
      '1,1',
      '-nkvo',
      '--fit-print',
      'on',
    ])
  })

  it('passes on the switches that decide whether host weights are repacked', () => {
    expect(fitParamsArgs(['-np', '1', '-nr', '--no-host', '-lm', 'none'])).toEqual(['-np', '1', '-nr', '--no-host', '--fit-print', 'on'])
    expect(fitParamsArgs(['-np', '1', '--no-repack'])).toEqual(['-np', '1', '--no-repack', '--fit-print', 'on'])
  })

  it('adds the four slots llama-server uses when -np is not given', () => {
    expect(fitParamsArgs(['-m', '/m.gguf'])).toEqual(['-m', '/m.gguf', '-np', '4', '--fit-print', 'on'])
  })

  it('gives -fa a value when the launch used the bare flag', () => {
    expect(fitParamsArgs(['-fa', '-c', '1'])).toEqual(['-fa', 'on', '-c', '1', '-np', '4', '--fit-print', 'on'])
    expect(fitParamsArgs(['-fa', 'off'])).toEqual(['-fa', 'off', '-np', '4', '--fit-print', 'on'])
  })
})

describe('parseFitPrint', () => {
  it('reads device and host lines in MiB', () => {
    const r = parseFitPrint('CUDA0 17904 384 898 \nCUDA1 100 20 30 \nHost 58259 0 12 \n')
    expect(r.devices).toEqual([
      { name: 'CUDA0', modelMb: 17904, contextMb: 384, computeMb: 898, totalMb: 19186 },
      { name: 'CUDA1', modelMb: 100, contextMb: 20, computeMb: 30, totalMb: 150 },
    ])
    expect(r).toMatchObject({ deviceMb: 19336, hostMb: 58271 })
  })

  it('says so when there is no projection in the output', () => {
    expect(() => parseFitPrint('-c 4096 -ngl -1\n')).toThrow(/printed no memory projection/)
  })
})

describe('fitParams', () => {
  it('reports the tool failing with its last lines', async () => {
    await expect(fitParams('/bin/false', ['-m', '/nowhere.gguf'])).rejects.toThrow(/llama-fit-params failed/)
  })

  it('stops when its signal is aborted', async () => {
    await expect(fitParams('/bin/sleep', ['10'], { signal: AbortSignal.abort() })).rejects.toThrow(/aborted/)
  })
})
