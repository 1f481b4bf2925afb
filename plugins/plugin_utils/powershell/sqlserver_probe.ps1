# win_hpc_sqlserver probe (read-only): data disks and volumes, the data folder and its ACL, the SQL
# Server authentication mode, the sa login, the databases, their files on disk, the HPC login and its database
# users, and the user-defined error messages. Returns the cmdlets' and catalog views' own names; the plan is made
# on the controller. Every T-SQL is the collection's own (plugins/plugin_utils/sql/), run with SqlClient
# parameters; the HPC login's password arrives as a secret and is only compared on the server (PWDCOMPARE).
function Invoke-HpcScript {
    if ($Params.volume) {
        $disks = foreach ($disk in @(Get-Disk)) {
            $letters = @(Get-Partition -DiskNumber $disk.Number -ErrorAction SilentlyContinue |
                    Where-Object { $_.DriveLetter -and $_.DriveLetter -ne [char]0 } |
                    ForEach-Object { [string]$_.DriveLetter })
            [ordered]@{
                Number = $disk.Number
                FriendlyName = $disk.FriendlyName
                SerialNumber = $disk.SerialNumber
                # Windows Server 2016 reports an EBS NVMe volume's id here rather than in SerialNumber
                # (AWS, Amazon EC2 User Guide for Windows, "Amazon EBS and NVMe", 2018 edition).
                AdapterSerialNumber = $disk.AdapterSerialNumber
                PartitionStyle = [string]$disk.PartitionStyle
                OperationalStatus = [string]$disk.OperationalStatus
                IsOffline = $disk.IsOffline
                IsReadOnly = $disk.IsReadOnly
                IsBoot = $disk.IsBoot
                IsSystem = $disk.IsSystem
                Size = $disk.Size
                DriveLetters = $letters
            }
        }
        $volumes = foreach ($volume in @(Get-Volume | Where-Object { $_.DriveLetter })) {
            [ordered]@{
                DriveLetter = [string]$volume.DriveLetter
                FileSystem = $volume.FileSystem
                FileSystemLabel = $volume.FileSystemLabel
                Size = $volume.Size
            }
        }
        $Result.volume = [ordered]@{ disks = @($disks); volumes = @($volumes) }
    }

    $folder = [ordered]@{ exists = (Test-Path -LiteralPath $Params.data_path -PathType Container); rules = @() }
    if ($folder.exists) {
        $folder.rules = @(foreach ($rule in (Get-Acl -LiteralPath $Params.data_path).Access) {
                [ordered]@{
                    IdentityReference = [string]$rule.IdentityReference
                    FileSystemRights = [string]$rule.FileSystemRights
                    InheritanceFlags = [string]$rule.InheritanceFlags
                    PropagationFlags = [string]$rule.PropagationFlags
                    AccessControlType = [string]$rule.AccessControlType
                    IsInherited = $rule.IsInherited
                }
            })
    }
    $Result.folder = $folder

    $sql = [ordered]@{
        reachable = $false
        error = $null
        instance = $Params.instance
        service_name = $Params.service_name
        agent_name = $Params.agent_name
        files = @{}
        hpc_login = $null
        users = @{}
        error_messages = @()
    }
    foreach ($file in @($Params.files)) {
        $sql.files[$file] = Test-Path -LiteralPath $file -PathType Leaf
    }
    try {
        $server = @(Invoke-HpcSql -Server $Params.server -Sql $Params.sql.probe_server)[0]
        $sql.integrated_only = $server.integrated_only
        $sql.login_mode_configured = $server.login_mode_configured
        $sql.sa_disabled = [bool]$server.sa_disabled
        $sql.databases = @(Invoke-HpcSql -Server $Params.server -Sql $Params.sql.list_databases)
        if ($Params.hpc_login) {
            $login = @(Invoke-HpcSql -Server $Params.server -Sql $Params.sql.probe_hpc_login -Parameters @{
                    login_name = [string]$Params.hpc_login
                    password = (Get-HpcSecret -Name 'hpc_password')
                })
            if ($login.Count -gt 0) {
                $sql.hpc_login = $login[0]
            }
            foreach ($db in @($Params.databases)) {
                $row = $sql.databases | Where-Object { $_.name -eq $db -and $_.state_desc -eq 'ONLINE' }
                if ($row) {
                    $sql.users[$db] = @(Invoke-HpcSql -Server $Params.server -Database $db -Sql $Params.sql.probe_hpc_user `
                            -Parameters @{ login_name = [string]$Params.hpc_login })
                }
            }
        }
        if ($Params.error_messages) {
            $sql.error_messages = @(Invoke-HpcSql -Server $Params.server -Sql $Params.sql.list_error_messages)
        }
        $sql.reachable = $true
    }
    catch {
        $sql.error = $_.Exception.Message
    }
    $Result.sql = $sql
}
