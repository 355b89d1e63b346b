/**
 * The account service's real process (src/main.ts, runAccount) for crash tests: it SIGKILLs itself
 * at the rotation step named by its first argument (rotation/model.ts RotationFailpoint: after the
 * rotation and its sealed secret are recorded, once staged, once `committing` is recorded, after
 * the AD write before the confirm, after the confirm). Test-only: production runs src/main.ts,
 * which no setting can make crash.
 *
 *   node services/account/test/crashing-main.ts rotation-committing
 */
import { crashAtArgument } from '@krbfleet/testing'
import { runAccount } from '../src/main.ts'
import { rotationFailpoints } from '../src/rotation/model.ts'

await runAccount({ failpoint: crashAtArgument(rotationFailpoints) })
