import { packageConfig } from '../../tsup.base'
export default packageConfig({ index: 'src/index.ts', browser: 'src/browser.ts' })
