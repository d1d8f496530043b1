import { packageConfig } from '../../tsup.base'
export default packageConfig({ index: 'src/index.ts', node: 'src/node.ts' }, { external: ['vitest'] })
