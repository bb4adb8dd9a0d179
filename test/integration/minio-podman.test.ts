import {podmanBinary} from '../../src/stack/engine/connect.js'
import {testPortOffsets} from '../helpers.js'
import {minioSuite} from './minio-checks.js'

// No registry here: poc's local image (Debian's Ceph in one container, built once and cached).
minioSuite(
  'podman',
  testPortOffsets.minioPodman,
  podmanBinary() || process.env.CI ? false : 'podman is not installed (npm run setup installs it)',
)
