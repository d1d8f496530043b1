import { packageConfig } from '../../tsup.base'
export default packageConfig({ index: 'src/index.ts', sodium: 'src/sodium.ts' })
