cwlVersion: v1.2
class: CommandLineTool
label: sort counted lines, most frequent first
baseCommand: sort
inputs:
  key:
    type: string
    default: 1,1nr
    inputBinding: { prefix: --key=, separate: false, position: 0 }
  counts:
    type: File
    inputBinding: { position: 1 }
outputs:
  ranked: stdout
stdout: ranked.txt
