# Last provisioner: generalise the image with EC2Launch so that every instance gets a new SID,
# host name and Administrator password at first boot, and runs its user data.
# Windows Server 2016/2019: EC2Launch v1 scripts; 2022 and later: EC2Launch v2 (ec2launch.exe).
$ErrorActionPreference = 'Stop'

$v2 = Join-Path $env:ProgramFiles 'Amazon\EC2Launch\EC2Launch.exe'
$v1 = 'C:\ProgramData\Amazon\EC2-Windows\Launch\Scripts'

if (Test-Path $v2) {
    & $v2 reset --clean --block
    & $v2 sysprep --clean '--shutdown=false' --block
    if ($LASTEXITCODE) { throw "EC2Launch v2 sysprep failed with exit code $LASTEXITCODE" }
} elseif (Test-Path $v1) {
    & (Join-Path $v1 'InitializeInstance.ps1') -Schedule
    & (Join-Path $v1 'SysprepInstance.ps1') -NoShutdown
} else {
    throw 'Neither EC2Launch v2 nor EC2Launch v1 is installed: cannot generalise the image.'
}
Write-Output 'Sysprep done; Packer stops the instance and creates the AMI.'
