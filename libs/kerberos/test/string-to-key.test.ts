import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ValidationError } from '@krbfleet/contracts'
import { deriveKey, EncType, nfold, parseS2kParams, stringToKey } from '../src/index.ts'

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex')

// RFC 3961 appendix A.1: every n-fold vector, (bits, input, output).
const NFOLD_VECTORS: Array<[number, string, string]> = [
  [64, '012345', 'be072631276b1955'],
  [56, 'password', '78a07b6caf85fa'],
  [64, 'Rough Consensus, and Running Code', 'bb6ed30870b7f0e0'],
  [168, 'password', '59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e'],
  [192, 'MASSACHVSETTS INSTITVTE OF TECHNOLOGY', 'db3b0d8f0b061e603282b308a50841229ad798fab9540c1b'],
  [168, 'Q', '518a54a2 15a8452a 518a54a2 15a8452a 518a54a2 15'],
  [168, 'ba', 'fb25d531 ae897449 9f52fd92 ea9857c4 ba24cf29 7e'],
  [64, 'kerberos', '6b657262 65726f73'],
  [128, 'kerberos', '6b657262 65726f73 7b9b5b2b 93132b93'],
  [168, 'kerberos', '8372c236 344e5f15 50cd0747 e15d62ca 7a5a3bce a4'],
  [256, 'kerberos', '6b657262 65726f73 7b9b5b2b 93132b93 5c9bdcda d95c9899 c4cae4de e6d6cae4'],
]

// RFC 3962 appendix B: (iterations, pass phrase, salt, 256-bit PBKDF2 output, 128-bit key, 256-bit key).
// The 128-bit PBKDF2 output is the first half of the 256-bit one.
const S2K_VECTORS: Array<[number, Buffer, Buffer, string, string, string]> = [
  [
    1,
    Buffer.from('password'),
    Buffer.from('ATHENA.MIT.EDUraeburn'),
    'cdedb5281bb2f801565a1122b25635150ad1f7a04bb9f3a333ecc0e2e1f70837',
    '42263c6e89f4fc28b8df68ee09799f15',
    'fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161',
  ],
  [
    2,
    Buffer.from('password'),
    Buffer.from('ATHENA.MIT.EDUraeburn'),
    '01dbee7f4a9e243e988b62c73cda935da05378b93244ec8f48a99e61ad799d86',
    'c651bf29e2300ac27fa469d693bdda13',
    'a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff',
  ],
  [
    1200,
    Buffer.from('password'),
    Buffer.from('ATHENA.MIT.EDUraeburn'),
    '5c08eb61fdf71e4e4ec3cf6ba1f5512ba7e52ddbc5e5142f708a31e2e62b1e13',
    '4c01cd46d632d01e6dbe230a01ed642a',
    '55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a',
  ],
  [
    5,
    Buffer.from('password'),
    hex('1234567878563412'),
    'd1daa78615f287e6a1c8b120d7062a493f98d203e6be49a6adf4fa574b6e64ee',
    'e9b23d52273747dd5c35cb55be619d8e',
    '97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31',
  ],
  [
    1200,
    Buffer.from('X'.repeat(64)),
    Buffer.from('pass phrase equals block size'),
    '139c30c0966bc32ba55fdbf212530ac9c5ec59f1a452f5cc9ad940fea0598ed1',
    '59d1bb789a828b1aa54ef9c2883f69ed',
    '89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34',
  ],
  [
    1200,
    Buffer.from('X'.repeat(65)),
    Buffer.from('pass phrase exceeds block size'),
    '9ccad6d468770cd51b10e6a68721be611a8b4d282601db3b36be9246915ec82a',
    'cb8005dc5f90179a7f02104c0018751d',
    'd78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b',
  ],
  [
    50,
    hex('f09d849e'), // U+1D11E MUSICAL SYMBOL G CLEF in UTF-8
    Buffer.from('EXAMPLE.COMpianist'),
    '6b9cf26d45455a43a5b8bb276a403b39e7fe37a0c41e02c281ff3069e1e94f52',
    'f149c1f2e154a73452d43e7fe62a56e5',
    '4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e',
  ],
]

describe('n-fold (RFC 3961 A.1)', () => {
  for (const [bits, input, output] of NFOLD_VECTORS) {
    test(`${bits}-fold("${input}")`, () => {
      assert.equal(nfold(Buffer.from(input), bits / 8).toString('hex'), hex(output).toString('hex'))
    })
  }
})

describe('string-to-key (RFC 3962 appendix B)', () => {
  for (const [iterations, password, salt, pbkdf2, key128, key256] of S2K_VECTORS) {
    const label = `${iterations} iteration(s), salt ${JSON.stringify(salt.toString('latin1'))}`
    test(`aes128 and aes256, ${label}`, () => {
      assert.equal(
        stringToKey(EncType.Aes128CtsHmacSha196, password, salt, iterations).toString('hex'),
        key128,
      )
      assert.equal(
        stringToKey(EncType.Aes256CtsHmacSha196, password, salt, iterations).toString('hex'),
        key256,
      )
    })
    test(`DK(PBKDF2 output, "kerberos"), ${label}`, () => {
      // The intermediate tkey of the appendix, fed to DK alone, pins the key derivation step.
      const kerberos = Buffer.from('kerberos')
      assert.equal(deriveKey(hex(pbkdf2), kerberos).toString('hex'), key256)
      assert.equal(deriveKey(hex(pbkdf2).subarray(0, 16), kerberos).toString('hex'), key128)
    })
  }

  test('a string pass phrase is UTF-8, as in the G clef vector', () => {
    assert.equal(
      stringToKey(EncType.Aes256CtsHmacSha196, '\u{1D11E}', 'EXAMPLE.COMpianist', 50).toString('hex'),
      '4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e',
    )
  })

  test('4096 iterations is the default, and what empty s2kparams mean', () => {
    const explicit = stringToKey(EncType.Aes128CtsHmacSha196, 'password', 'salt', 4096)
    assert.deepEqual(stringToKey(EncType.Aes128CtsHmacSha196, 'password', 'salt'), explicit)
    assert.equal(parseS2kParams(undefined), 4096)
    assert.equal(parseS2kParams(new Uint8Array(0)), 4096)
    assert.equal(parseS2kParams(hex('000004b0')), 1200)
  })

  test('bad input is refused naming the field and the rule', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => stringToKey(23 as EncType, 'pw', 'salt'), 'enctype'],
      [() => stringToKey(EncType.Aes256CtsHmacSha196, '', 'salt'), 'password'],
      [() => stringToKey(EncType.Aes256CtsHmacSha196, 'pw', 'salt', 0), 'iterations'],
      [() => stringToKey(EncType.Aes256CtsHmacSha196, 'pw', 'salt', 1.5), 'iterations'],
      [() => parseS2kParams(hex('0000')), 's2kparams'],
      [() => parseS2kParams(hex('00000000')), 'iterations'],
    ]
    for (const [run, field] of cases) {
      assert.throws(run, (err: unknown) => {
        assert.ok(err instanceof ValidationError)
        assert.equal(err.field, field)
        return true
      })
    }
  })
})
