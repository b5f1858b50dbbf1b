# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command"]
COPY testfile.txt c:\
RUN dir c:\ `
    | Out-File c:\dirs.txt
WORKDIR C:\app
