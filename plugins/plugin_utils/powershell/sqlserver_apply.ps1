# win_hpc_sqlserver apply: performs exactly the changes the controller planned, in order. Every
# value comes from $Params/$Secrets (data); every T-SQL is the collection's own (plugins/plugin_utils/sql/) and
# runs with SqlClient parameters. Not Invoke-Sqlcmd -Variable: sqlcmd scripting variables are substituted into
# the script's text (a password would become part of the batch, and one with a quote would break it), and
# SqlServer module versions before 22.0.52 refuse a value that contains "=" (microsoft/SQLServerPSModule#25).
function Invoke-HpcDatabaseChange {
    param ($Change)
    $dataExists = Test-Path -LiteralPath $Change.data_file -PathType Leaf
    $logExists = Test-Path -LiteralPath $Change.log_file -PathType Leaf
    $mode = $Change.action
    if ($mode -eq 'create_or_attach' -or $dataExists) {
        # The rule, checked again on the host right before the statement: existing files are attached.
        if ($dataExists) {
            $mode = if ($logExists) { 'attach' } else { 'attach_rebuild_log' }
        }
        elseif ($logExists) {
            Stop-HpcStep -Step 'create database' -Object $Change.object -Cause (
                'its log file {0} exists without the data file {1}; refusing to create it anew' -f $Change.log_file, $Change.data_file)
        }
        else {
            $mode = 'create'
        }
    }
    $verb = if ($mode -eq 'create') { 'create database' } else { 'attach database' }
    $from = if ($mode -eq 'create') { ('in {0}' -f $Change.data_file) } else { ('from {0}' -f $Change.data_file) }
    try {
        Invoke-HpcSql -Server $Params.server -Sql $Params.sql.create_database -Timeout $Params.sql_timeout -Parameters @{
            db_name = $Change.object
            data_file = $Change.data_file
            log_file = $Change.log_file
            data_size_mb = [int]$Change.data_size_mb
            data_growth = [string]$Change.data_growth
            log_size_mb = [int]$Change.log_size_mb
            log_growth = [string]$Change.log_growth
            mode = $mode
        } | Out-Null
    }
    catch {
        Stop-HpcStep -Step $verb -Object ('{0} {1}' -f $Change.object, $from) -Cause $_
    }
    $Result.databases[$Change.object] = $mode
}

function Invoke-HpcScript {
    Assert-HpcApply
    $Result.databases = [ordered]@{}
    $Result.restarted = $false
    foreach ($change in @($Params.changes)) {
        $object = $change.object
        switch ($change.step) {
            'volume' {
                try {
                    switch ($change.action) {
                        'online' { Set-Disk -Number $change.disk_number -IsOffline $false }
                        'clear_read_only' { Set-Disk -Number $change.disk_number -IsReadOnly $false }
                        'initialize_and_format' {
                            $disk = Get-Disk -Number $change.disk_number
                            if ([string]$disk.PartitionStyle -ne 'RAW') {
                                throw ('disk {0} is no longer RAW ({1}); refusing to format a disk that may hold data' -f $change.disk_number, $disk.PartitionStyle)
                            }
                            Initialize-Disk -Number $change.disk_number -PartitionStyle GPT
                            New-Partition -DiskNumber $change.disk_number -UseMaximumSize -DriveLetter $change.drive_letter |
                                Format-Volume -FileSystem $change.file_system -NewFileSystemLabel $change.label -Confirm:$false | Out-Null
                        }
                        'assign_letter' {
                            $partition = Get-Partition -DiskNumber $change.disk_number |
                                Where-Object { $_.Type -in 'Basic', 'IFS' } | Sort-Object -Property Size -Descending | Select-Object -First 1
                            if (-not $partition) {
                                throw ('disk {0} has no data partition to mount' -f $change.disk_number)
                            }
                            Set-Partition -DiskNumber $change.disk_number -PartitionNumber $partition.PartitionNumber -NewDriveLetter $change.drive_letter
                        }
                    }
                }
                catch {
                    Stop-HpcStep -Step ('{0} data volume' -f $change.action) -Object $object -Cause $_
                }
            }
            'folder' {
                try {
                    New-Item -ItemType Directory -Path $object -Force | Out-Null
                }
                catch {
                    Stop-HpcStep -Step 'create data folder' -Object $object -Cause $_
                }
            }
            'folder_acl' {
                try {
                    $acl = Get-Acl -LiteralPath $object
                    $rule = [System.Security.AccessControl.FileSystemAccessRule]::new(
                        $change.identity, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')
                    $acl.SetAccessRule($rule)
                    Set-Acl -LiteralPath $object -AclObject $acl
                }
                catch {
                    Stop-HpcStep -Step ('grant FullControl to {0} on' -f $change.identity) -Object $object -Cause $_
                }
            }
            'login_mode' {
                try {
                    Invoke-HpcSql -Server $Params.server -Sql $Params.sql.set_login_mode -Parameters @{ login_mode = [int]$change.login_mode } | Out-Null
                }
                catch {
                    Stop-HpcStep -Step 'set the authentication mode of' -Object $object -Cause $_
                }
            }
            'service_restart' {
                try {
                    $agent = Get-Service -Name $change.agent -ErrorAction SilentlyContinue
                    $agentWasRunning = $agent -and $agent.Status -eq 'Running'
                    Restart-Service -Name $object -Force
                    if ($agentWasRunning) {
                        Start-Service -Name $change.agent
                    }
                    $deadline = (Get-Date).AddSeconds($Params.sql_timeout)
                    while ($true) {
                        try {
                            Invoke-HpcSql -Server $Params.server -Sql $Params.sql.ping -Timeout 15 | Out-Null
                            break
                        }
                        catch {
                            if ((Get-Date) -gt $deadline) {
                                throw
                            }
                            Start-Sleep -Seconds 5
                        }
                    }
                    $Result.restarted = $true
                }
                catch {
                    Stop-HpcStep -Step 'restart SQL Server service' -Object $object -Cause $_
                }
            }
            'database' {
                Invoke-HpcDatabaseChange -Change $change
            }
            'hpc_login' {
                # The login HPC Pack connects with: created, given its password, enabled (hpc_login.sql).
                try {
                    Invoke-HpcSql -Server $Params.server -Sql $Params.sql.hpc_login -Timeout $Params.sql_timeout -Parameters @{
                        login_name = [string]$Params.hpc_login
                        password = (Get-HpcSecret -Name 'hpc_password')
                        reset_password = [int][bool]$Params.reset_password
                    } | Out-Null
                }
                catch {
                    Stop-HpcStep -Step ('{0} the SQL login' -f $change.action) -Object $object -Cause $_
                }
            }
            'hpc_user' {
                # Its db_owner user in one HPC database: created, or an orphaned one mapped (hpc_database_user.sql).
                try {
                    Invoke-HpcSql -Server $Params.server -Database $object -Sql $Params.sql.hpc_database_user -Timeout $Params.sql_timeout `
                        -Parameters @{ login_name = [string]$Params.hpc_login } | Out-Null
                }
                catch {
                    Stop-HpcStep -Step ('add the db_owner user of login {0} to' -f $change.user) -Object $object -Cause $_
                }
            }
            'error_messages' {
                # HPC Pack's DefineErrorMessages.sql, one sp_addmessage per missing or different message.
                foreach ($message in @($change.messages)) {
                    try {
                        Invoke-HpcSql -Server $Params.server -Sql $Params.sql.define_error_message -Parameters @{
                            msgnum = [int]$message.msgnum
                            severity = [int]$message.severity
                            msgtext = [string]$message.text
                        } | Out-Null
                    }
                    catch {
                        Stop-HpcStep -Step 'define HPC Pack error message' -Object ([string]$message.msgnum) -Cause $_
                    }
                }
            }
            'sa_login' {
                try {
                    $disable = if ($change.action -eq 'disable') { 1 } else { 0 }
                    Invoke-HpcSql -Server $Params.server -Sql $Params.sql.set_sa_login -Parameters @{ disable = $disable } | Out-Null
                }
                catch {
                    Stop-HpcStep -Step ('{0} the sa login on' -f $change.action) -Object $Params.server -Cause $_
                }
            }
        }
        Add-HpcDone -Step $change.step -Object $object
    }
}
