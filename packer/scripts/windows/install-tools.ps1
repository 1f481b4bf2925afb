# Chocolatey and the AWS CLI (used by the payload downloads and, later, by the cluster's own
# scripts). Runs over WinRM as Administrator.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

if (-not (Get-Command choco.exe -ErrorAction SilentlyContinue)) {
    [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
    $installer = Join-Path $env:TEMP 'install-chocolatey.ps1'
    Invoke-WebRequest -UseBasicParsing -Uri 'https://community.chocolatey.org/install.ps1' -OutFile $installer
    & $installer
    if ($LASTEXITCODE) { throw "Chocolatey installation failed with exit code $LASTEXITCODE" }
}

choco install awscli --yes --no-progress
if ($LASTEXITCODE) { throw "choco install awscli failed with exit code $LASTEXITCODE" }

# Make the tools visible to the next provisioners (new WinRM sessions read the machine PATH).
$machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
if ($machinePath -notlike '*Amazon\AWSCLIV2*') {
    [Environment]::SetEnvironmentVariable('Path', "$machinePath;C:\Program Files\Amazon\AWSCLIV2", 'Machine')
}
Write-Output 'Chocolatey and the AWS CLI are installed.'
