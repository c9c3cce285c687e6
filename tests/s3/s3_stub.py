#!/usr/bin/python3
"""A scripted S3 stub for the error paths no real server shows on demand.

    s3_stub.py SCENARIO OUTDIR LOG

Listens on 127.0.0.1 (a free port), prints "listening PORT" once ready and
serves until killed. It speaks enough S3 for sheetq's uploads (PutObject,
CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload) and, at /creds, the ECS container credentials
endpoint. Every request is checked the way S3 checks it, independently of
sheetq's C code: the SigV4 signature (recomputed here with hashlib/hmac),
x-amz-content-sha256 and Content-MD5 against the body received, the
session token. Completed objects are written under OUTDIR; one JSON line
per request is appended to LOG.

SCENARIO picks the misbehaviour (see SCENARIOS below). Static credentials:
access key STUBKEY, secret STUBSECRET. The credentials endpoint hands out
ASIASTUB<n> / STUBSECRET<n> / STUBTOKEN<n> (n = 1, 2, ... per fetch) and
requires "Authorization: $STUB_AUTH" when STUB_AUTH is set.
"""
import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import sys
import threading
import urllib.parse

SCENARIOS = {
    'ok': 'everything succeeds',
    'put_retry': 'PutObject: 500 InternalError, then 503 SlowDown, then success',
    'put_500': 'PutObject: always 500 InternalError',
    'put_403': 'PutObject: 403 AccessDenied',
    'put_409': 'PutObject: always 409 OperationAborted (a conflicting operation in progress)',
    'part_drop': 'UploadPart 2: the first try is cut off mid-body (connection closed)',
    'part_500': 'UploadPart 2: always 503 SlowDown',
    'complete_error': 'CompleteMultipartUpload: first 200 with <Error>InternalError, then success',
    'complete_error_always': 'CompleteMultipartUpload: always 200 with <Error>InternalError',
    'complete_lost': 'CompleteMultipartUpload: completes, then drops the connection unanswered',
    'expired_token': 'requests with session token STUBTOKEN1 get 400 ExpiredToken',
}

STATIC = {'STUBKEY': ('STUBSECRET', None)}
ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
             '<Message>%s</Message><RequestId>stub-%d</RequestId></Error>')


class State:
    def __init__(self, scenario, outdir, log):
        self.scenario = scenario
        self.outdir = outdir
        self.log = log
        self.lock = threading.Lock()
        self.counts = {}       # op (and part) -> tries seen
        self.fetches = 0       # credential fetches
        self.creds = dict(STATIC)
        self.uploads = {}      # upload id -> {'key', 'parts': {n: (etag, bytes)}}
        self.next_upload = 1
        self.requests = 0

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1
            return self.counts[what]


def enc(s):
    return urllib.parse.quote(s, safe='-_.~')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'sheetq-s3-stub'

    def log_message(self, *args):
        pass

    # ---- plumbing ---------------------------------------------------------
    def record(self, **kw):
        st = self.server.state
        with st.lock:
            st.requests += 1
            kw['n'] = st.requests
            with open(st.log, 'a') as f:
                f.write(json.dumps(kw) + '\n')

    def reply(self, status, body=b'', headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('x-amz-request-id', 'stub-%d' % self.server.state.requests)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def error(self, status, code, message, **log):
        body = (ERROR_XML % (code, message, self.server.state.requests + 1)).encode()
        self.record(status=status, code=code, **log)
        self.reply(status, body, {'Content-Type': 'application/xml'})

    def drop(self, **log):
        """Closes the connection without an answer (RST if data is unread)."""
        self.record(status=0, code='dropped', **log)
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\0\0\0\0\0\0\0')
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def read_body(self, limit=None):
        n = int(self.headers.get('Content-Length') or 0)
        if limit is not None:
            n = min(n, limit)
        chunks, left = [], n
        while left > 0:
            c = self.rfile.read(min(left, 1 << 20))
            if not c:
                break
            chunks.append(c)
            left -= len(c)
        return b''.join(chunks)

    # ---- checks S3 makes ----------------------------------------------------
    def check_signature(self):
        """None if the request is correctly signed, else (code, message)."""
        st = self.server.state
        auth = self.headers.get('Authorization', '')
        m = re.fullmatch(r'AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([a-z0-9-]+)/s3/aws4_request,'
                         r'SignedHeaders=([a-z0-9;-]+),Signature=([0-9a-f]{64})', auth)
        if not m:
            return ('AccessDenied', 'missing or malformed Authorization')
        akid, date8, region, signed, sig = m.groups()
        if akid not in st.creds:
            return ('InvalidAccessKeyId', 'unknown access key')
        secret, token = st.creds[akid]
        names = signed.split(';')
        for need in ('host', 'x-amz-date', 'x-amz-content-sha256'):
            if need not in names:
                return ('AccessDenied', '%s is not signed' % need)
        if token is not None and (self.headers.get('x-amz-security-token') != token or
                                  'x-amz-security-token' not in names):
            return ('InvalidToken', 'the session token is missing or wrong')
        amz_date = self.headers.get('x-amz-date', '')
        try:
            t = dt.datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ').replace(tzinfo=dt.timezone.utc)
        except ValueError:
            return ('AccessDenied', 'bad x-amz-date')
        if abs((dt.datetime.now(dt.timezone.utc) - t).total_seconds()) > 900 or amz_date[:8] != date8:
            return ('RequestTimeTooSkewed', 'x-amz-date is off')
        path, _, query = self.path.partition('?')
        canon_uri = enc(urllib.parse.unquote(path)).replace('%2F', '/')
        params = sorted((enc(k), enc(v)) for k, v in
                        urllib.parse.parse_qsl(query, keep_blank_values=True))
        canon_query = '&'.join('%s=%s' % kv for kv in params)
        canon_headers = ''.join('%s:%s\n' % (n, ' '.join((self.headers.get(n) or '').split()))
                                for n in names)
        creq = '\n'.join([self.command, canon_uri, canon_query, canon_headers, signed,
                          self.headers.get('x-amz-content-sha256', '')])
        sts = '\n'.join(['AWS4-HMAC-SHA256', amz_date, '%s/%s/s3/aws4_request' % (date8, region),
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = ('AWS4' + secret).encode()
        for part in (date8, region, 's3', 'aws4_request'):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(hmac.new(k, sts.encode(), hashlib.sha256).hexdigest(), sig):
            return ('SignatureDoesNotMatch', 'The request signature we calculated does not match '
                    'the signature you provided. Check your key and signing method.')
        return None

    def check_body(self, body):
        if hashlib.sha256(body).hexdigest() != self.headers.get('x-amz-content-sha256'):
            return ('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does '
                    'not match what was computed.')
        md5 = self.headers.get('Content-MD5')
        if md5 is not None and base64.b64encode(hashlib.md5(body).digest()).decode() != md5:
            return ('BadDigest', 'The Content-MD5 you specified did not match what we received.')
        return None

    # ---- the credentials endpoint ------------------------------------------
    def serve_creds(self):
        st = self.server.state
        want = os.environ.get('STUB_AUTH')
        if want and self.headers.get('Authorization') != want:
            self.record(op='GetCredentials', status=401)
            self.reply(401, b'{"message":"bad token"}')
            return
        with st.lock:
            st.fetches += 1
            n = st.fetches
            st.creds['ASIASTUB%d' % n] = ('STUBSECRET%d' % n, 'STUBTOKEN%d' % n)
        exp = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')
        body = json.dumps({'AccessKeyId': 'ASIASTUB%d' % n, 'SecretAccessKey': 'STUBSECRET%d' % n,
                           'Token': 'STUBTOKEN%d' % n, 'Expiration': exp}).encode()
        self.record(op='GetCredentials', status=200, fetch=n)
        self.reply(200, body, {'Content-Type': 'application/json'})

    # ---- S3 ------------------------------------------------------------------
    def handle_s3(self):
        st = self.server.state
        sc = st.scenario
        path, _, query = self.path.partition('?')
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        parts = urllib.parse.unquote(path).lstrip('/').split('/', 1)
        if len(parts) != 2 or not parts[1]:
            self.read_body()
            return self.error(400, 'InvalidRequest', 'path-style bucket/key expected')
        bucket, key = parts
        if self.command == 'PUT' and 'partNumber' in q:
            op = 'UploadPart'
        elif self.command == 'PUT':
            op = 'PutObject'
        elif self.command == 'POST' and 'uploads' in q:
            op = 'CreateMultipartUpload'
        elif self.command == 'POST' and 'uploadId' in q:
            op = 'CompleteMultipartUpload'
        elif self.command == 'DELETE' and 'uploadId' in q:
            op = 'AbortMultipartUpload'
        else:
            self.read_body()
            return self.error(405, 'MethodNotAllowed', 'not supported by the stub')
        part = int(q.get('partNumber', 0))
        tries = st.count('%s%s' % (op, part or ''))
        token = self.headers.get('x-amz-security-token')
        log = dict(op=op, key=key, part=part, try_=tries, token=token)

        # Scripted failures that happen before the body is read.
        if sc == 'part_drop' and op == 'UploadPart' and part == 2 and tries == 1:
            self.read_body(limit=int(self.headers.get('Content-Length') or 0) // 2)
            return self.drop(**log)

        body = self.read_body()
        bad = self.check_signature() or self.check_body(body)
        if bad:
            return self.error(403 if bad[0] not in ('BadDigest', 'XAmzContentSHA256Mismatch')
                              else 400, bad[0], bad[1], **log)
        if sc == 'expired_token' and token == 'STUBTOKEN1':
            return self.error(400, 'ExpiredToken', 'The provided token has expired.', **log)
        if sc == 'put_retry' and op == 'PutObject' and tries <= 2:
            if tries == 1:
                return self.error(500, 'InternalError', 'We encountered an internal error.', **log)
            return self.error(503, 'SlowDown', 'Please reduce your request rate.', **log)
        if sc == 'put_500' and op == 'PutObject':
            return self.error(500, 'InternalError', 'We encountered an internal error.', **log)
        if sc == 'put_403' and op == 'PutObject':
            return self.error(403, 'AccessDenied', 'Access Denied', **log)
        if sc == 'put_409' and op == 'PutObject':
            return self.error(409, 'OperationAborted',
                              'A conflicting conditional operation is currently in progress '
                              'against this resource. Please try again.', **log)
        if sc == 'part_500' and op == 'UploadPart' and part == 2:
            return self.error(503, 'SlowDown', 'Please reduce your request rate.', **log)

        if op == 'PutObject':
            self.store(key, body)
            etag = '"%s"' % hashlib.md5(body).hexdigest()
            self.record(status=200, size=len(body), **log)
            return self.reply(200, b'', {'ETag': etag})
        if op == 'CreateMultipartUpload':
            with st.lock:
                uid = 'upload/%d+x=' % st.next_upload  # characters that need encoding
                st.next_upload += 1
                st.uploads[uid] = {'key': key, 'parts': {}}
            self.record(status=200, upload=uid, **log)
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult '
                   'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>%s</Bucket><Key>%s</Key>'
                   '<UploadId>%s</UploadId></InitiateMultipartUploadResult>' % (bucket, key, uid))
            return self.reply(200, xml.encode(), {'Content-Type': 'application/xml'})
        up = st.uploads.get(q.get('uploadId'))
        if up is None or up['key'] != key:
            return self.error(404, 'NoSuchUpload', 'The specified upload does not exist.', **log)
        if op == 'UploadPart':
            etag = '"%s"' % hashlib.md5(body).hexdigest()
            up['parts'][part] = (etag, body)
            self.record(status=200, size=len(body), **log)
            return self.reply(200, b'', {'ETag': etag})
        if op == 'AbortMultipartUpload':
            del st.uploads[q['uploadId']]
            self.record(status=204, **log)
            return self.reply(204)
        # CompleteMultipartUpload
        if sc == 'complete_error_always' or (sc == 'complete_error' and tries == 1):
            # S3's way: 200 first, whitespace while it works, then the error.
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n' + ' ' * 64 + '\n' +
                   ERROR_XML % ('InternalError', 'We encountered an internal error. Please try again.',
                                st.requests + 1))
            self.record(status=200, code='InternalError', **log)
            return self.reply(200, xml.encode(), {'Content-Type': 'application/xml'})
        listed = re.findall(r'<Part><PartNumber>(\d+)</PartNumber><ETag>([^<]*)</ETag></Part>',
                            body.decode())
        nums = [int(n) for n, _ in listed]
        if not listed or nums != sorted(nums) or \
                any(up['parts'].get(int(n), (None,))[0] != e.replace('&quot;', '"') for n, e in listed):
            return self.error(400, 'InvalidPart', 'One or more of the specified parts could not '
                              'be found or did not match.', **log)
        data = b''.join(up['parts'][n][1] for n in nums)
        self.store(key, data)
        del st.uploads[q['uploadId']]
        if sc == 'complete_lost' and tries == 1:
            return self.drop(**log)
        self.record(status=200, size=len(data), parts=len(nums), **log)
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult '
               'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Key>%s</Key><ETag>"x-%d"</ETag>'
               '</CompleteMultipartUploadResult>' % (key, len(nums)))
        return self.reply(200, xml.encode(), {'Content-Type': 'application/xml'})

    def store(self, key, data):
        dest = os.path.join(self.server.state.outdir, key)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest + '.tmp', 'wb') as f:
            f.write(data)
        os.replace(dest + '.tmp', dest)

    def dispatch(self):
        try:
            if self.path == '/creds':
                return self.serve_creds()
            return self.handle_s3()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = dispatch


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in SCENARIOS:
        sys.stderr.write('usage: s3_stub.py SCENARIO OUTDIR LOG\nscenarios:\n' +
                         ''.join('  %-22s %s\n' % kv for kv in SCENARIOS.items()))
        return 2
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.daemon_threads = True
    server.state = State(sys.argv[1], sys.argv[2], sys.argv[3])
    print('listening %d' % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == '__main__':
    sys.exit(main())
