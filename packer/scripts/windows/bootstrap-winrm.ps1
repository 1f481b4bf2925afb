<powershell>
# User data of the Windows build instances: WinRM over HTTPS (5986) with a self-signed certificate,
# so Packer's WinRM communicator never talks plain HTTP. The certificate lives only for the bake:
# sysprep (last provisioner) generalises the image and the provisioning tier's own user data sets
# up WinRM again on every instance.
$ErrorActionPreference = 'Stop'

$hostName = [System.Net.Dns]::GetHostName()
$cert = New-SelfSignedCertificate -DnsName $hostName -CertStoreLocation 'Cert:\LocalMachine\My'

# Remove any HTTP listener and create the HTTPS one.
Get-ChildItem -Path WSMan:\localhost\Listener | Where-Object { $_.Keys -contains 'Transport=HTTP' } |
    Remove-Item -Recurse -Force
New-Item -Path WSMan:\localhost\Listener -Transport HTTPS -Address * -CertificateThumbPrint $cert.Thumbprint -Force | Out-Null

Set-Item -Path WSMan:\localhost\Service\Auth\Basic -Value $true
Set-Item -Path WSMan:\localhost\Service\AllowUnencrypted -Value $false
Set-Item -Path WSMan:\localhost\MaxTimeoutms -Value 1800000

New-NetFirewallRule -DisplayName 'WinRM HTTPS (packer)' -Direction Inbound -Protocol TCP -LocalPort 5986 -Action Allow | Out-Null
Restart-Service -Name WinRM
</powershell>
