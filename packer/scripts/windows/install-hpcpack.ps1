# Copy the HPC Pack installer from the payload bucket and unpack it to C:\HPCPack\Setup. The role-
# specific setup (head node: setup.exe -unattend -HeadNode ...; compute node: -ComputeNode:<head>)
# needs the head node's name and the SQL Server address, known only at deployment, so it runs then
# (roles headnode/computenode); the image carries the unpacked installer and its prerequisites.
# Environment: HPC_PAYLOAD_BUCKET, HPC_INSTALLER_KEY, HPC_ROLE, AWS_DEFAULT_REGION.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$bucket = $env:HPC_PAYLOAD_BUCKET
$key = $env:HPC_INSTALLER_KEY
if (-not $bucket) { throw 'HPC_PAYLOAD_BUCKET is empty: set the bakery payload bucket (ami_bakery_payload_bucket).' }
if (-not $key) { throw 'HPC_INSTALLER_KEY is empty.' }

$setupRoot = 'C:\HPCPack'
$archive = Join-Path $setupRoot ([IO.Path]::GetFileName($key))
New-Item -ItemType Directory -Path $setupRoot -Force | Out-Null

$aws = Join-Path $env:ProgramFiles 'Amazon\AWSCLIV2\aws.exe'
& $aws s3 cp "s3://$bucket/$key" $archive --only-show-errors
if ($LASTEXITCODE) { throw "Copying s3://$bucket/$key failed with exit code $LASTEXITCODE" }

Expand-Archive -Path $archive -DestinationPath (Join-Path $setupRoot 'Setup') -Force
Remove-Item -Path $archive -Force

# Prerequisites both roles need (HPC Pack setup would otherwise install them at first boot).
Install-WindowsFeature -Name 'NET-Framework-45-Core', 'NET-WCF-TCP-PortSharing45' | Out-Null

# Record which role the image was baked for; the deployment roles check it.
Set-Content -Path (Join-Path $setupRoot 'image-role.txt') -Value $env:HPC_ROLE -Encoding ASCII
Write-Output "HPC Pack installer for role $($env:HPC_ROLE) is ready in $setupRoot\Setup."
