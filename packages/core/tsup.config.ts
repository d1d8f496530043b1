import { packageConfig } from '../../tsup.base'
export default packageConfig({ index: 'src/index.ts', 'node/index': 'src/node/index.ts' })
