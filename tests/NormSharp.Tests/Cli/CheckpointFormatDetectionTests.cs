namespace NormSharp.Tests.Cli;

public class CheckpointFormatDetectionTests
{
    [Fact]
    public void SafeTensorsFile_WhoseHeaderLengthStartsWithThePickleByte_IsDetectedAsSafeTensors()
    {
        byte[] head = [0x80, 0x01, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'{', 0, 0];
        Assert.Equal(NormSharp.Cli.Inspection.CheckpointFormat.SafeTensors, NormSharp.Cli.Inspection.CheckpointFormats.Detect(head));
        Assert.Equal(NormSharp.PyTorch.PyTorchFileFormat.Other, NormSharp.PyTorch.PyTorchCheckpoint.DetectFormat(head));
        byte[] pickle = [0x80, 0x02, (byte)'}', (byte)'q', 0, (byte)'X', 1, 0, 0, 0, (byte)'a', 0, 0, 0, 0, 0];
        Assert.Equal(NormSharp.Cli.Inspection.CheckpointFormat.Pickle, NormSharp.Cli.Inspection.CheckpointFormats.Detect(pickle));
    }
}
