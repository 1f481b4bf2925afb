# Copy the HPC Pack installer from the payload bucket and unpack it to C:\HPCPack\Setup, so that setup.exe is
# C:\HPCPack\Setup\setup.exe: the default of the roles (headnode_setup_path, computenode_setup_path) and of the
# modules' setup_path (tests/unit/test_image_layout.py holds them to this script). setup.exe is at the root of
# HPC Pack's setup package (Microsoft's MSFT_xHpcHeadNodeInstall extracts the package and runs
# "$tgtdir\setup.exe"); a package with another layout fails the bake here instead of the deployment later.
# The role-specific setup (head node: setup.exe -unattend -HeadNode ...; compute node: -ComputeNode:<head>)
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
$setupDir = Join-Path -Path $setupRoot -ChildPath 'Setup'
$setupExe = Join-Path -Path $setupDir -ChildPath 'setup.exe'
$archive = Join-Path $setupRoot ([IO.Path]::GetFileName($key))
New-Item -ItemType Directory -Path $setupRoot -Force | Out-Null

$aws = Join-Path $env:ProgramFiles 'Amazon\AWSCLIV2\aws.exe'
& $aws s3 cp "s3://$bucket/$key" $archive --only-show-errors
if ($LASTEXITCODE) { throw "Copying s3://$bucket/$key failed with exit code $LASTEXITCODE" }

Expand-Archive -Path $archive -DestinationPath $setupDir -Force
Remove-Item -Path $archive -Force
if (-not (Test-Path -LiteralPath $setupExe -PathType Leaf)) {
    throw "s3://$bucket/$key has no setup.exe at its root: the roles expect $setupExe."
}

# Prerequisites both roles need (HPC Pack setup would otherwise install them at first boot).
Install-WindowsFeature -Name 'NET-Framework-45-Core', 'NET-WCF-TCP-PortSharing45' | Out-Null

# The head node runs the autogrow service (role autogrow_service, tasks/windows.yml) with the Python of
# autogrow_service_windows_python, C:\Program Files\Python311\python.exe, and boto3: install it for all users
# there (python.org installer options, docs.python.org/3/using/windows.html "Installing Without UI").
if ($env:HPC_ROLE -eq 'headnode') {
    $pythonVersion = '3.11.9'
    $pythonDir = 'C:\Program Files\Python311'
    $pythonExe = Join-Path -Path $pythonDir -ChildPath 'python.exe'
    $pythonInstaller = Join-Path $env:TEMP "python-$pythonVersion-amd64.exe"
    [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
    Invoke-WebRequest -UseBasicParsing -Uri "https://www.python.org/ftp/python/$pythonVersion/python-$pythonVersion-amd64.exe" -OutFile $pythonInstaller
    # Piped so that PowerShell waits for the installer (a GUI-subsystem program) and sets $LASTEXITCODE.
    & $pythonInstaller /quiet InstallAllUsers=1 "TargetDir=$pythonDir" PrependPath=0 Include_test=0 | Out-Null
    if ($LASTEXITCODE) { throw "The Python $pythonVersion installer failed with exit code $LASTEXITCODE" }
    Remove-Item -Path $pythonInstaller -Force
    if (-not (Test-Path -LiteralPath $pythonExe -PathType Leaf)) {
        throw "Python $pythonVersion is not at $pythonExe, where autogrow_service_windows_python expects it."
    }
    & $pythonExe -m pip install --no-warn-script-location --disable-pip-version-check boto3
    if ($LASTEXITCODE) { throw "pip install boto3 failed with exit code $LASTEXITCODE" }
}

# Record which role the image was baked for; the deployment roles check it.
Set-Content -Path (Join-Path $setupRoot 'image-role.txt') -Value $env:HPC_ROLE -Encoding ASCII
Write-Output "HPC Pack installer for role $($env:HPC_ROLE) is ready: $setupExe."
