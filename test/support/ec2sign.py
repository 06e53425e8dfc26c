"""Sign EC2 requests with keystoneclient's Ec2Signer, the algorithm Keystone's /v3/ec2tokens checks.

stdin: a JSON list of {"secret": ..., "credentials": {...}}; stdout: the JSON list of signatures.
The tests compare PocketStack's own implementation against this one.
"""
import json
import sys

from keystoneclient.contrib.ec2.utils import Ec2Signer

requests = json.load(sys.stdin)
print(json.dumps([Ec2Signer(r["secret"]).generate(r["credentials"]) for r in requests]))
