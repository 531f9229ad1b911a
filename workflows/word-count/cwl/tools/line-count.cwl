cwlVersion: v1.2
class: CommandLineTool
label: count the lines of files
baseCommand: [wc, -l]
requirements:
  DockerRequirement:
    dockerPull: debian:12-slim
inputs:
  files:
    type: File[]
    inputBinding: { position: 1 }
outputs:
  report: stdout
stdout: lines.txt
