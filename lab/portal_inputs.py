"""What a user hands the portal tier before playbooks/portal.yml runs, made for the lab (lab tooling).

Seed 001 asks the user for three things the collection never makes itself; on real AWS docs/portal.md says how
to make each. In the lab this script makes them in the embedded endpoint, each only when it is missing:

- the efadmin secret in Secrets Manager, ``{"efadminPassword": "<password>"}`` as seed 001's
  ``aws secretsmanager create-secret`` makes it, with a random password that meets its policy (letters, digits and
  a special character); the password is never printed;
- a self-signed certificate and key for the load balancer's HTTPS listener (the role imports them into ACM), under
  .lab/portal/tls/;
- the JDBC driver in the payload bucket, as a tar.gz like the "Platform Independent" TAR of MySQL Connector/J.
  MySQL Connector/J is a download that is not on this machine; the lab packs Debian's MariaDB Connector/J
  (package libmariadb-java, /usr/share/java/mariadb-java-client.jar), which speaks the same protocol and, in its
  2.x series, accepts ``jdbc:mysql:`` URLs. The EnginFrame installer is a licensed download: the lab has none and
  the role says so (portal_enginframe_install is false in inventories/lab/group_vars/all.yml).

    portal_inputs.py [--cluster lab] [--secret-id ID] [--secret-key efadminPassword] [--object KEY]

Needs the lab environment (.lab/env) and the cluster's payload bucket (site.yml made it). Nothing under plugins/
or roles/ imports it.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import secrets
import string
import sys
import tarfile
from pathlib import Path

import boto3
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
TLS = ROOT / ".lab" / "portal" / "tls"
DRIVER_JAR = Path("/usr/share/java/mariadb-java-client.jar")
SPECIALS = "!#%+,-.:=?^_~"


def efadmin_password(length: int = 20) -> str:
    """A random password with letters, digits and one special character at least (seed 001's policy)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        body = [secrets.choice(alphabet) for unused in range(length - 1)] + [secrets.choice(SPECIALS)]
        secrets.SystemRandom().shuffle(body)
        word = "".join(body)
        if any(c.isalpha() for c in word) and any(c.isdigit() for c in word):
            return word


def ensure_secret(client, secret_id: str, key: str) -> str:
    try:
        return client.describe_secret(SecretId=secret_id)["ARN"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    made = client.create_secret(Name=secret_id, Description="EnginFrame efadmin password (lab)",
                                SecretString=json.dumps({key: efadmin_password()}))
    print(f"portal_inputs: made the efadmin secret {secret_id}")
    return made["ARN"]


def ensure_certificate(host: str) -> tuple[Path, Path]:
    cert_file, key_file = TLS / "portal.crt", TLS / "portal.key"
    if cert_file.exists() and key_file.exists():
        return cert_file, key_file
    # ACM imports RSA 2048 and ECDSA P-256 keys among others; RSA 2048 is what load balancers most often carry.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(tz=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    TLS.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    print(f"portal_inputs: made a self-signed certificate for {host}")
    return cert_file, key_file


def payload_bucket(s3, cluster: str) -> str:
    for bucket in s3.list_buckets().get("Buckets", []):
        try:
            tags = s3.get_bucket_tagging(Bucket=bucket["Name"]).get("TagSet", [])
        except ClientError:
            continue
        values = {t["Key"]: t["Value"] for t in tags}
        if values.get("hpc:cluster") == cluster and "-payload-" in bucket["Name"]:
            return bucket["Name"]
    sys.exit(f"portal_inputs: no payload bucket of cluster {cluster}: run site.yml first (make lab does)")


def driver_archive() -> bytes:
    if not DRIVER_JAR.exists():
        sys.exit(f"portal_inputs: {DRIVER_JAR} is missing: install Debian's libmariadb-java (make lab-debs does)")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        tar.add(DRIVER_JAR.resolve(), arcname="mariadb-java-client/mariadb-java-client.jar")
    return data.getvalue()


def ensure_driver(s3, bucket: str, key: str) -> None:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=driver_archive())
    print(f"portal_inputs: uploaded the JDBC driver to s3://{bucket}/{key}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", default="lab")
    parser.add_argument("--secret-id", default="lab/efadmin")
    parser.add_argument("--secret-key", default="efadminPassword")
    parser.add_argument("--object", default="portal/mariadb-java-client.tar.gz")
    parser.add_argument("--host", default="portal.lab.internal")
    args = parser.parse_args(argv)
    ensure_secret(boto3.client("secretsmanager"), args.secret_id, args.secret_key)
    ensure_certificate(args.host)
    s3 = boto3.client("s3")
    ensure_driver(s3, payload_bucket(s3, args.cluster), args.object)
    return 0


if __name__ == "__main__":
    sys.exit(main())
