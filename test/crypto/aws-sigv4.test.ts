import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signV4, signingKey } from '../../src/crypto/aws-sigv4.js';

// The worked example of the AWS General Reference ("Signature Version 4 signing process"):
// GET https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08 on 2015-08-30T12:36:00Z.
const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

test('SigV4: the derived signing key matches the AWS documented example', () => {
  assert.equal(signingKey(secret, '20150830', 'us-east-1', 'iam').toString('hex'), 'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9');
});

test('SigV4: the Authorization header matches the AWS documented example', () => {
  const headers = signV4(
    { method: 'GET', url: 'https://iam.amazonaws.com/?Version=2010-05-08&Action=ListUsers', headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: '' },
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret },
    'us-east-1',
    'iam',
    new Date('2015-08-30T12:36:00Z'),
  );
  assert.equal(headers['X-Amz-Date'], '20150830T123600Z');
  assert.equal(
    headers.Authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
  );
});

test('SigV4: a session token is sent and signed', () => {
  const h = signV4({ method: 'POST', url: 'https://kms.eu-west-1.amazonaws.com/', headers: {}, body: '{}' }, { accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T' }, 'eu-west-1', 'kms');
  assert.equal(h['X-Amz-Security-Token'], 'T');
  assert.match(h.Authorization!, /SignedHeaders=host;x-amz-date;x-amz-security-token,/);
});
