// The world the troubleshooting cases run in: the Azure emulator (demo world), the crafted PKI,
// and the two long-lived server plugins; everything else a case starts is tracked and closed here.
import { loadImdsServer, serverHcl, tenantHcl } from '../support/azure-imds-plugins.js'
import { loadMsi, serverHclFor } from '../support/azure-msi-plugins.js'
import { startEmulator } from '../azure-emulator/index.js'
import type { PluginProcess } from '../../shared/host/index.js'
import { startCraftedPki } from './crafted-pki.js'
import type { Env } from './troubleshooting-cases.js'

export interface RunningEnv extends Env {
  /** Unexpected emulator handler errors (answered 500); a clean run has none. */
  emulatorErrors(): readonly unknown[]
  stop(): Promise<void>
}

export async function startEnv(): Promise<RunningEnv> {
  const emu = await startEmulator()
  const crafted = await startCraftedPki()
  const open: Promise<PluginProcess>[] = []
  const track = <T extends PluginProcess>(p: Promise<T>): Promise<T> => {
    open.push(p)
    return p
  }
  const [msi, imds] = await Promise.all([
    track(
      loadMsi('server', serverHclFor(emu, [{ tenant: 'contoso' }], 'jwks_refresh_cooldown = "1s"')),
    ),
    track(
      loadImdsServer(
        serverHcl(emu, [tenantHcl(emu, 'contoso'), tenantHcl(emu, 'fabrikam-gov')].join('\n  ')),
      ),
    ),
  ])
  return {
    emu,
    crafted,
    msi,
    imds,
    track,
    emulatorErrors: () => emu.errors,
    async stop() {
      const settled = await Promise.allSettled(open)
      await Promise.all(
        settled.map((s) =>
          s.status === 'fulfilled' ? s.value.close().catch(() => {}) : undefined,
        ),
      )
      await crafted.stop()
      await emu.stop()
    },
  }
}
