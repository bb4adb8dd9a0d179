import {testPortOffsets} from '../helpers.js'
import {minioSuite} from './minio-checks.js'

// Natively, with no minio binary installed: Debian's Ceph (monitor, OSD, radosgw) as three processes.
minioSuite('native', testPortOffsets.minio, false)
