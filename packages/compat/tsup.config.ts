import { packageConfig } from '../../tsup.base'
// The drop-in entry points share code (legacy plugins, pull adapters): one copy, in shared chunks.
export default packageConfig(
  {
    index: 'src/index.ts',
    multiserver: 'src/original/multiserver.ts',
    compose: 'src/original/compose.ts',
    'plugins/net': 'src/original/plugins/net.ts',
    'plugins/ws': 'src/original/plugins/ws.ts',
    'plugins/shs': 'src/original/plugins/shs.ts',
    'plugins/unix-socket': 'src/original/plugins/unix-socket.ts',
    'plugins/noauth': 'src/original/plugins/noauth.ts',
    'plugins/onion': 'src/original/plugins/onion.ts',
  },
  { splitting: true },
)
