# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Certificate and setup of win_hpc_headnode, planned from its probe (private: no compatibility promise)."""

from __future__ import annotations

import ntpath

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import (
    HPCPACK_VERSIONS,
    SETUP_MAJOR_VERSIONS,
    HpcPlanError,
    Plan,
    hpc_databases,
    require_domain_admin,
    setup_needed,
)

# Connection-string keys of HPC Pack setup, in the order of seed 000's command line.
CONNECTION_STRING_SWITCHES = (
    ("MGMTDBCONSTR", "management"),
    ("SCHDDBCONSTR", "scheduler"),
    ("RPTDBCONSTR", "reporting"),
    ("DIAGDBCONSTR", "diagnostics"),
    ("MONDBCONSTR", "monitoring"),
    # HPC Pack 2019 only (setup major version 6), spelled as Microsoft's scripts pass them (HA_DATABASES above).
    ("HAStorageDbConStr", "ha_storage"),
    ("HAWitnessDbConStr", "ha_witness"),
)
HA_CONNECTION_STRING_SWITCHES = ("HAStorageDbConStr", "HAWitnessDbConStr")
DEFAULT_CATALOGS = {
    "management": "HPCManagement",
    "scheduler": "HPCScheduler",
    "reporting": "HPCReporting",
    "diagnostics": "HPCDiagnostics",
    "monitoring": "HPCMonitoring",
    "ha_storage": "HPCHAStorage",
    "ha_witness": "HPCHAWitness",
}

# Where head node setup puts the install share (\\<headnode>\REMINST) that compute nodes read the certificates
# from: "C:\Program Files\Microsoft HPC Pack 2016\Data\InstallShare\Certificates\" (the reference deployment's
# write-up, arjanvanbekkum/HPC) and "C:\Program Files\Microsoft HPC Pack 2019\Data\InstallShare\Certificates"
# (Microsoft Tech Community, "The Complete Guide to Renewing an Expired Certificate in Microsoft HPC Pack 2019",
# step 4).
INSTALL_SHARE_CERTIFICATES = "C:\\Program Files\\Microsoft HPC Pack %s\\Data\\InstallShare\\Certificates"

# Components head node setup can leave out: "-SkipComponent:rras,dhcp,wds", introduced by HPC Pack 2016
# Update 3 (Azure/hpcpack CHANGELOG.md, "HPC Pack 2016 Update 3 (5.3.6435)": "Support not to install
# rras/dhcp/wds components on head node slipstream installation"); the reference deployment
# (arjanvanbekkum/HPC install_hpc_headnode.ps1) passes all three, in this order.
SKIPPABLE_COMPONENTS = ("rras", "dhcp", "wds")


def plan_certificate(plan, cert, state):
    """The head node's communication certificate, exported to a PFX protected by the SSM password."""
    pfx = state.get("pfx") or {}
    source = cert["source"]
    before = {
        "pfx_path": cert["pfx_path"],
        "exists": bool(pfx.get("Exists")),
        "subject": pfx.get("Subject"),
        "thumbprint": pfx.get("Thumbprint"),
    }
    plan.before["certificate"] = before
    after = dict(before, exists=True)
    usable = bool(pfx.get("Exists")) and bool(pfx.get("PasswordValid")) and bool(pfx.get("HasPrivateKey"))
    expiring = int(pfx.get("DaysLeft") or 0) < int(cert.get("renew_days", 30))
    if source == "self_signed":
        wanted_subject = "CN=" + cert["common_name"]
        if not usable or expiring or str(pfx.get("Subject") or "") != wanted_subject:
            plan.add(
                "certificate",
                cert["pfx_path"],
                "create_self_signed",
                common_name=cert["common_name"],
                valid_years=cert.get("valid_years", 5),
            )
            after.update(subject=wanted_subject, thumbprint="(new)")
    elif source == "thumbprint":
        store = state.get("store") or {}
        wanted = cert["thumbprint"].replace(" ", "").upper()
        if not store.get("Found"):
            raise HpcPlanError("Certificate %s not found in Cert:\\LocalMachine\\My" % wanted)
        if not store.get("HasPrivateKey") or not store.get("Exportable"):
            raise HpcPlanError(
                "Certificate %s in Cert:\\LocalMachine\\My has no exportable private key; "
                "HPC Pack setup needs it as a PFX" % wanted
            )
        if not usable or str(pfx.get("Thumbprint") or "").upper() != wanted:
            plan.add("certificate", cert["pfx_path"], "export", thumbprint=wanted)
            after.update(thumbprint=wanted, subject=store.get("Subject"))
    elif source == "pfx":
        src = state.get("source_pfx") or {}
        if not src.get("Exists"):
            raise HpcPlanError("CA-issued certificate %s not found on the host" % cert["src"])
        if not src.get("PasswordValid") or not src.get("HasPrivateKey"):
            raise HpcPlanError(
                "CA-issued certificate %s: the password does not open it or it has no private key" % cert["src"]
            )
        if not usable or str(pfx.get("Thumbprint") or "").upper() != str(src.get("Thumbprint") or "").upper():
            plan.add("certificate", cert["pfx_path"], "copy", src=cert["src"])
            after.update(thumbprint=src.get("Thumbprint"), subject=src.get("Subject"))
    plan_certificate_store(plan, cert, state, before, after)
    plan.after["certificate"] = after


def plan_certificate_store(plan, cert, state, before, after):
    """The communication certificate in Cert:\\LocalMachine\\My with its private key, where HPC Pack setup takes it
    from by thumbprint (-SSLThumbprint), as Microsoft's install scripts do: Azure/cyclecloud-hpcpack
    specs/default/chef/site-cookbooks/hpcpack/files/InstallHPCHeadNode.ps1 @ 0d56be5b7cc1771931dfc108f7007f4ffa0b407d
    imports a PFX with Import-PfxCertificate -CertStoreLocation Cert:\\LocalMachine\\My -Exportable, and
    Azure/hpcpack-template MSFT_xHpcHeadNodeInstall.psm1 @ 0e5bb8dc5071011d2b1182cd52229b526bc2bb73 requires
    Cert:\\LocalMachine\\My\\<thumbprint> before it passes -SSLThumbprint:<thumbprint>.

    A self-signed certificate is made in that store and a CA-issued one (source thumbprint) is exported from it, so
    only a copied PFX, or a PFX whose certificate is not (or no longer) in the store, is imported."""
    stored = state.get("in_my_store") or {}
    planned = plan.steps("certificate")
    in_store = bool(stored.get("Found")) and bool(stored.get("HasPrivateKey"))
    before["in_my_store"] = in_store
    after["in_my_store"] = True
    if (planned[0]["action"] == "copy") if planned else not in_store:
        plan.add("certificate_store", "Cert:\\LocalMachine\\My", "import", pfx_path=cert["pfx_path"])


def setup_thumbprint(plan):
    """The thumbprint head node setup gets (-SSLThumbprint): the certificate's when the plan knows it; None when this
    run makes a new one, whose thumbprint the apply script reads from the certificate it makes or imports."""
    thumbprint = (plan.after.get("certificate") or {}).get("thumbprint")
    return None if not thumbprint or thumbprint == "(new)" else str(thumbprint).replace(" ", "").upper()


def setup_skip_component(components):
    """The value of head node setup's ``-SkipComponent:`` flag (``rras,dhcp,wds``), or None to leave it out."""
    wanted = {str(c).lower() for c in components or []}
    unknown = sorted(wanted - set(SKIPPABLE_COMPONENTS))
    if unknown:
        raise HpcPlanError(
            "install.skip_components: %s not a component HPC Pack setup can skip (%s)"
            % (", ".join(unknown) + (" is" if len(unknown) == 1 else " are"), ", ".join(SKIPPABLE_COMPONENTS))
        )
    ordered = [c for c in SKIPPABLE_COMPONENTS if c in wanted]
    return ",".join(ordered) or None


def connection_string_switches(version="2016"):
    """(setup flag, catalog key) of every connection string head node setup of ``version`` is given."""
    hpc_databases(version)
    return [
        (switch, key)
        for switch, key in CONNECTION_STRING_SWITCHES
        if str(version) == "2019" or switch not in HA_CONNECTION_STRING_SWITCHES
    ]


def install_share_certificates(version="2016"):
    """The install share's Certificates folder on the head node of HPC Pack ``version``."""
    hpc_databases(version)
    return INSTALL_SHARE_CERTIFICATES % version


def check_setup_version(setup_path, version, setup_version):
    """Refuse a setup.exe of another HPC Pack version than ``version`` (FileMajorPart as the probe read it)."""
    if not setup_version or setup_version.get("FileMajorPart") is None:
        return
    major = int(setup_version["FileMajorPart"])
    found = SETUP_MAJOR_VERSIONS.get(major)
    file_version = setup_version.get("FileVersion") or major
    if found is None:
        raise HpcPlanError(
            "HPC Pack setup %s has file version %s, which is not HPC Pack %s (file version %s)"
            % (
                setup_path,
                file_version,
                " or ".join(HPCPACK_VERSIONS),
                " or ".join("%d.x" % m for m in sorted(SETUP_MAJOR_VERSIONS)),
            )
        )
    if found != str(version):
        raise HpcPlanError(
            "HPC Pack setup %s is HPC Pack %s (file version %s) but hpcpack_version is %s (the headnode role's "
            "headnode_hpcpack_version, from hpc_pack_version): set it to %s so that the SQL Server role creates "
            "that version's databases and setup gets their connection strings"
            % (setup_path, found, file_version, version, found)
        )


def plan_headnode(options, probe):
    plan = Plan()
    cert = options.get("certificate")
    if cert:
        plan_certificate(plan, cert, probe.get("certificate") or {})
    install = options["install"]
    version = options.get("hpcpack_version") or "2016"
    if probe.get("setup_exists"):
        check_setup_version(install["setup_path"], version, probe.get("setup_version"))
    if setup_needed(plan, probe, install["setup_path"], "head node"):
        # Microsoft runs head node setup as the setup user, a domain user added to the local Administrators
        # (Azure/hpcpack-template, InstallPrimaryHeadNode.ps1: Group AddADUserToLocalAdminGroup, then
        # xHpcHeadNodeInstall with PsDscRunAsCredential = $SetupUserCredential; Azure/cyclecloud-hpcpack
        # recipes/hn.rb runs InstallHPCHeadNode.ps1 as the domain admin, elevated).
        require_domain_admin(probe.get("identity"), "HPC Pack head node setup", "headnode_service_account")
        plan.add(
            "install",
            install["cluster_name"],
            "install_headnode",
            setup_path=install["setup_path"],
            hpcpack_version=version,
            ssl_thumbprint=setup_thumbprint(plan),
        )
    publish = options.get("publish_certificate")
    if publish and cert:
        target = ntpath.join(publish, ntpath.basename(cert["pfx_path"]))
        share = probe.get("publish") or {}
        same = (
            share.get("Exists")
            and share.get("Sha256")
            and share.get("Sha256") == (probe.get("certificate") or {}).get("pfx", {}).get("Sha256")
        )
        plan.before["published"] = bool(same)
        plan.after["published"] = True
        if not same or plan.steps("certificate"):
            plan.add("publish", target, "copy", src=cert["pfx_path"])
    return plan
