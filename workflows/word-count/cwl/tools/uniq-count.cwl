cwlVersion: v1.2
class: CommandLineTool
label: count repeated lines
baseCommand: [uniq, -c]
inputs:
  file:
    type: File
    inputBinding: { position: 1 }
outputs:
  counts: stdout
stdout: counts.txt
